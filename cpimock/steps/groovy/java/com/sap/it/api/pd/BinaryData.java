package com.sap.it.api.pd;

/** A binary partner directory parameter (an XSLT, a schema, a certificate) with its content type. */
public class BinaryData {
    private final byte[] data;
    private final String contentType;

    public BinaryData(byte[] data, String contentType) {
        this.data = data;
        this.contentType = contentType;
    }

    public byte[] getData() {
        return data;
    }

    public String getContentType() {
        return contentType;
    }

    @Override
    public String toString() {
        return "BinaryData[" + contentType + ", " + data.length + " bytes]";
    }
}
