package com.sap.it.api;

import com.sap.it.api.exception.InvalidContextException;

import cpimock.jvm.Services;

/**
 * Hands scripts the tenant's services: secure store, value mappings, partner directory, keystore.
 *
 * <p>cpimock serves them from the workspace's files (see docs/handlers.md); the context argument
 * is ignored, as scripts pass {@code null}.
 */
public final class ITApiFactory {
    private ITApiFactory() {
    }

    public static <T> T getApi(Class<T> type, Object context) throws InvalidContextException {
        return Services.lookup(type, "getApi");
    }

    public static <T> T getService(Class<T> type, Object context) throws InvalidContextException {
        return Services.lookup(type, "getService");
    }
}
