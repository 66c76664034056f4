package com.sap.it.api.securestore;

import java.util.Map;

/** A deployed user credential (or, with only a password, a secure parameter). */
public interface UserCredential {
    String getUsername();

    char[] getPassword();

    Map<String, String> getCredentialProperties();
}
