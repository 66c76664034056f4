package com.sap.gateway.ip.core.customdev.util;

import java.util.List;
import java.util.Map;

import javax.activation.DataHandler;

/**
 * CPI's script API v1 message, as Groovy script steps of version 1.x see it.
 *
 * <p>Written for cpimock from the published method list; cpimock's implementation is
 * {@code cpimock.jvm.ScriptMessage}. The two methods taking Camel's {@code Attachment} are
 * offered with {@link AttachmentWrapper}, as cpimock runs without Camel.
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
