package com.sap.it.api.keystore.exception;

/** No certificate or key is stored under the alias asked for. */
public class KeystoreException extends Exception {
    private static final long serialVersionUID = 1L;

    public KeystoreException(String message) {
        super(message);
    }
}
