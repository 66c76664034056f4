package com.sap.it.api;

/** The marker of the APIs {@link ITApiFactory#getApi} hands out. */
public interface ITApi {
}
