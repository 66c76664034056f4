package com.sap.it.api.securestore.exception;

/** No credential is deployed under the alias asked for. */
public class SecureStoreException extends Exception {
    private static final long serialVersionUID = 1L;

    public SecureStoreException(String message) {
        super(message);
    }
}
