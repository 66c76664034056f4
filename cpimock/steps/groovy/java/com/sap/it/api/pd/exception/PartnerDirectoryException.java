package com.sap.it.api.pd.exception;

/** The partner directory cannot answer: an unknown partner, or a parameter of another type. */
public class PartnerDirectoryException extends Exception {
    private static final long serialVersionUID = 1L;

    public PartnerDirectoryException(String message) {
        super(message);
    }
}
