package com.sap.it.script.v2.api;

import java.util.List;
import java.util.Map;

import javax.activation.DataHandler;

import com.sap.gateway.ip.core.customdev.util.AttachmentWrapper;
import com.sap.gateway.ip.core.customdev.util.SoapHeader;

/**
 * CPI's script API v2 message, for Groovy script steps of version 2.x (Groovy 4).
 *
 * <p>SAP publishes no method list for it: cpimock gives it v1's surface and companion classes.
 * cpimock's implementation is {@code cpimock.jvm.ScriptMessage}.
 */
public interface Message {
    Object getBody();

    <T> T getBody(Class<T> type);

    void setBody(Object body);

    long getBodySize();

    Map<String, Object> getHeaders();

    <T> T getHeader(String name, Class<T> type);

    void setHeaders(Map<String, Object> headers);

    void setHeader(String name, Object value);

    Map<String, Object> getProperties();

    void setProperties(Map<String, Object> properties);

    void setProperty(String name, Object value);

    Object getProperty(String name);

    long getAttachmentsSize();

    Map<String, DataHandler> getAttachments();

    void setAttachments(Map<String, DataHandler> attachments);

    void addAttachmentObject(String id, AttachmentWrapper attachment);

    Map<String, AttachmentWrapper> getAttachmentObjects();

    void setAttachmentObjects(Map<String, AttachmentWrapper> attachments);

    Map<String, AttachmentWrapper> getAttachmentWrapperObjects();

    void setAttachmentWrapperObjects(Map<String, AttachmentWrapper> attachments);

    void addAttachmentHeader(String name, String value, AttachmentWrapper attachment);

    void setAttachmentHeader(String name, String value, AttachmentWrapper attachment);

    String getAttachmentHeader(String name, AttachmentWrapper attachment);

    void removeAttachmentHeader(String name, AttachmentWrapper attachment);

    List<SoapHeader> getSoapHeaders();

    void setSoapHeaders(List<SoapHeader> soapHeaders);

    void clearSoapHeaders();
}
