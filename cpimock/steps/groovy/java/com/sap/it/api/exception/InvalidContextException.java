package com.sap.it.api.exception;

/** The context given to {@code ITApiFactory} is not usable. */
public class InvalidContextException extends Exception {
    private static final long serialVersionUID = 1L;

    public InvalidContextException(String message) {
        super(message);
    }
}
