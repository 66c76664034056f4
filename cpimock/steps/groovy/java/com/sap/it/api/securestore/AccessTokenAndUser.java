package com.sap.it.api.securestore;

/** An OAuth2 access token deployed under an alias, with the user it belongs to. */
public interface AccessTokenAndUser {
    String getAccessToken();

    String getUser();
}
