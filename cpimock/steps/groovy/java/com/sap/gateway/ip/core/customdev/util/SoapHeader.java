package com.sap.gateway.ip.core.customdev.util;

import javax.xml.namespace.QName;

/** A SOAP header of the message: its qualified name, the header element, and its SOAP attributes. */
public class SoapHeader {
    private QName name;
    private Object element;
    private boolean mustUnderstand;
    private String actor;
    private boolean relay;

    public SoapHeader(QName name, Object element, boolean mustUnderstand, String actor) {
        this.name = name;
        this.element = element;
        this.mustUnderstand = mustUnderstand;
        this.actor = actor;
    }

    public SoapHeader(QName name, Object element) {
        this(name, element, false, null);
    }

    public QName getName() {
        return name;
    }

    public void setName(QName name) {
        this.name = name;
    }

    /** The header element: an {@code org.w3c.dom.Element} or its XML text. */
    public Object getElement() {
        return element;
    }

    public void setElement(Object element) {
        this.element = element;
    }

    public boolean isMustUnderstand() {
        return mustUnderstand;
    }

    public void setMustUnderstand(boolean mustUnderstand) {
        this.mustUnderstand = mustUnderstand;
    }

    public String getActor() {
        return actor;
    }

    public void setActor(String actor) {
        this.actor = actor;
    }

    public boolean isRelay() {
        return relay;
    }

    public void setRelay(boolean relay) {
        this.relay = relay;
    }

    @Override
    public String toString() {
        return "SoapHeader[" + name + "]";
    }
}
