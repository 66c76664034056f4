package cpimock.jvm;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.Charset;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import javax.activation.DataHandler;
import javax.mail.util.ByteArrayDataSource;
import javax.xml.namespace.QName;

import org.w3c.dom.Node;

import com.sap.gateway.ip.core.customdev.util.AttachmentWrapper;
import com.sap.gateway.ip.core.customdev.util.SoapHeader;

/**
 * The message a script gets: what the Python message held, and, after the script, what goes back.
 *
 * <p>One class for both script API generations, v1 and v2. The body the script has not replaced
 * stays bytes: {@code getBody()} gives it as a stream (read once, as CPI's stream-cached body),
 * {@code getBody(String)} and the other typed reads convert it afresh each time.
 */
public final class ScriptMessage
        implements com.sap.gateway.ip.core.customdev.util.Message, com.sap.it.script.v2.api.Message {
    private final Charset charset;
    private final byte[] raw;
    private Object body;
    private boolean bodySet;
    private InputStream untyped;
    private Map<String, Object> headers = new CaseInsensitiveMap();
    private Map<String, Object> properties = new LinkedHashMap<>();
    private final Map<String, AttachmentWrapper> attachments = new LinkedHashMap<>();
    private List<SoapHeader> soapHeaders = new ArrayList<>();
    private final List<Object> receivers = new ArrayList<>();
    final List<Object> warnings = new ArrayList<>();

    ScriptMessage(Map<?, ?> call) {
        Charset named;
        try {
            named = Charset.forName((String) call.get("charset"));
        } catch (IllegalArgumentException unknown) {
            named = java.nio.charset.StandardCharsets.UTF_8;
            warnings.add("Java does not know the charset '" + call.get("charset") + "'; the script read the body as UTF-8");
        }
        charset = named;
        raw = (byte[]) call.get("body");
        for (Object pair : (List<?>) call.get("headers")) {
            headers.put((String) ((List<?>) pair).get(0), ((List<?>) pair).get(1));
        }
        for (Object pair : (List<?>) call.get("properties")) {
            properties.put((String) ((List<?>) pair).get(0), ((List<?>) pair).get(1));
        }
        for (Object item : (List<?>) call.get("attachments")) {
            Map<?, ?> a = (Map<?, ?>) item;
            ByteArrayDataSource source = new ByteArrayDataSource((byte[]) a.get("content"), (String) a.get("type"));
            source.setName((String) a.get("name"));
            AttachmentWrapper wrapper = new AttachmentWrapper(new DataHandler(source));
            for (Object pair : (List<?>) a.get("headers")) {
                wrapper.addHeader((String) ((List<?>) pair).get(0), (String) ((List<?>) pair).get(1));
            }
            attachments.put((String) a.get("name"), wrapper);
        }
        for (Object item : (List<?>) call.get("soap_headers")) {
            Map<?, ?> h = (Map<?, ?>) item;
            Object element;
            try {
                element = Convert.parse((String) h.get("xml")).getDocumentElement();
            } catch (IOException e) {
                element = h.get("xml");
            }
            SoapHeader header = new SoapHeader(new QName((String) h.get("namespace"), (String) h.get("local")), element,
                    Boolean.TRUE.equals(h.get("must_understand")), (String) h.get("actor"));
            header.setRelay(Boolean.TRUE.equals(h.get("relay")));
            soapHeaders.add(header);
        }
    }

    // --- body ---------------------------------------------------------------------------------

    @Override
    public Object getBody() {
        if (bodySet) {
            return body;
        }
        if (untyped == null) {
            untyped = new ByteArrayInputStream(raw);
        }
        return untyped;
    }

    @Override
    public <T> T getBody(Class<T> type) {
        if (type == null) {
            return null;
        }
        return Convert.to(bodySet ? body : raw, type, charset, "the body");
    }

    @Override
    public void setBody(Object body) {
        this.body = body;
        this.bodySet = true;
        this.untyped = null;
    }

    @Override
    public long getBodySize() {
        if (!bodySet) {
            return raw.length;
        }
        if (body == null) {
            return 0;
        }
        try {
            byte[] bytes = Convert.bytes(body, charset);
            if (body instanceof InputStream) {
                body = bytes; // the stream is spent: keep what it held
            }
            return bytes.length;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("reading the body failed: " + e.getMessage(), e);
        }
    }

    // --- headers and properties ----------------------------------------------------------------

    @Override
    public Map<String, Object> getHeaders() {
        return headers;
    }

    @Override
    public <T> T getHeader(String name, Class<T> type) {
        return Convert.to(headers.get(name), type, charset, "header '" + name + "'");
    }

    @Override
    public void setHeaders(Map<String, Object> headers) {
        CaseInsensitiveMap replaced = new CaseInsensitiveMap();
        if (headers != null) {
            for (Map.Entry<String, Object> entry : headers.entrySet()) {
                replaced.put(entry.getKey(), entry.getValue());
            }
        }
        this.headers = replaced;
    }

    @Override
    public void setHeader(String name, Object value) {
        if ("SAP_Receiver".equalsIgnoreCase(name) && value != null) {
            receivers.add(value);
        }
        headers.put(name, value);
    }

    @Override
    public Map<String, Object> getProperties() {
        return properties;
    }

    @Override
    public void setProperties(Map<String, Object> properties) {
        this.properties = properties == null ? new LinkedHashMap<>() : new LinkedHashMap<>(properties);
    }

    @Override
    public void setProperty(String name, Object value) {
        if (value == null) {
            properties.remove(name); // as Camel does
        } else {
            properties.put(name, value);
        }
    }

    @Override
    public Object getProperty(String name) {
        return properties.get(name);
    }

    // --- attachments -----------------------------------------------------------------------------

    @Override
    public long getAttachmentsSize() {
        return attachments.size();
    }

    @Override
    public Map<String, DataHandler> getAttachments() {
        return new DataHandlers();
    }

    @Override
    public void setAttachments(Map<String, DataHandler> replaced) {
        attachments.clear();
        if (replaced != null) {
            for (Map.Entry<String, DataHandler> entry : replaced.entrySet()) {
                attachments.put(entry.getKey(), new AttachmentWrapper(entry.getValue()));
            }
        }
    }

    @Override
    public void addAttachmentObject(String id, AttachmentWrapper attachment) {
        if (id == null || attachment == null) {
            throw new IllegalArgumentException("addAttachmentObject: the id and the attachment are not null");
        }
        attachments.put(id, attachment);
    }

    @Override
    public Map<String, AttachmentWrapper> getAttachmentObjects() {
        return attachments;
    }

    @Override
    public void setAttachmentObjects(Map<String, AttachmentWrapper> replaced) {
        setAttachmentWrapperObjects(replaced);
    }

    @Override
    public Map<String, AttachmentWrapper> getAttachmentWrapperObjects() {
        return attachments;
    }

    @Override
    public void setAttachmentWrapperObjects(Map<String, AttachmentWrapper> replaced) {
        Map<String, AttachmentWrapper> copy = replaced == null ? new LinkedHashMap<>() : new LinkedHashMap<>(replaced);
        attachments.clear();
        attachments.putAll(copy);
    }

    @Override
    public void addAttachmentHeader(String name, String value, AttachmentWrapper attachment) {
        attachment.addHeader(name, value);
    }

    @Override
    public void setAttachmentHeader(String name, String value, AttachmentWrapper attachment) {
        attachment.setHeader(name, value);
    }

    @Override
    public String getAttachmentHeader(String name, AttachmentWrapper attachment) {
        return attachment.getHeader(name);
    }

    @Override
    public void removeAttachmentHeader(String name, AttachmentWrapper attachment) {
        attachment.removeHeader(name);
    }

    /** The attachments as DataHandlers: a live view, as Camel's map is. */
    private final class DataHandlers extends AbstractMap<String, DataHandler> {
        @Override
        public DataHandler get(Object key) {
            AttachmentWrapper wrapper = attachments.get(key);
            return wrapper == null ? null : wrapper.getDataHandler();
        }

        @Override
        public DataHandler put(String key, DataHandler value) {
            AttachmentWrapper old = attachments.put(key, new AttachmentWrapper(value));
            return old == null ? null : old.getDataHandler();
        }

        @Override
        public DataHandler remove(Object key) {
            AttachmentWrapper old = attachments.remove(key);
            return old == null ? null : old.getDataHandler();
        }

        @Override
        public Set<Map.Entry<String, DataHandler>> entrySet() {
            return new AbstractSet<Map.Entry<String, DataHandler>>() {
                @Override
                public Iterator<Map.Entry<String, DataHandler>> iterator() {
                    Iterator<Map.Entry<String, AttachmentWrapper>> inner = attachments.entrySet().iterator();
                    return new Iterator<Map.Entry<String, DataHandler>>() {
                        @Override
                        public boolean hasNext() {
                            return inner.hasNext();
                        }

                        @Override
                        public Map.Entry<String, DataHandler> next() {
                            Map.Entry<String, AttachmentWrapper> entry = inner.next();
                            return new AbstractMap.SimpleImmutableEntry<>(entry.getKey(),
                                    entry.getValue().getDataHandler());
                        }

                        @Override
                        public void remove() {
                            inner.remove();
                        }
                    };
                }

                @Override
                public int size() {
                    return attachments.size();
                }
            };
        }
    }

    // --- SOAP headers ----------------------------------------------------------------------------

    @Override
    public List<SoapHeader> getSoapHeaders() {
        return soapHeaders;
    }

    @Override
    public void setSoapHeaders(List<SoapHeader> soapHeaders) {
        this.soapHeaders = soapHeaders == null ? new ArrayList<>() : new ArrayList<>(soapHeaders);
    }

    @Override
    public void clearSoapHeaders() {
        soapHeaders.clear();
    }

    // --- what goes back ----------------------------------------------------------------------------

    /** The message as the answer carries it (see bridge.py for the keys). */
    Map<String, Object> answer() throws IOException {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("body_set", bodySet);
        if (bodySet) {
            out.put("body", bodyValue());
        }
        out.put("headers", pairs(headers));
        out.put("properties", pairs(properties));
        out.put("receivers", receivers);
        List<Object> attached = new ArrayList<>();
        for (Map.Entry<String, AttachmentWrapper> entry : attachments.entrySet()) {
            DataHandler handler = entry.getValue().getDataHandler();
            Map<String, Object> a = new LinkedHashMap<>();
            a.put("name", entry.getKey());
            String type = handler.getContentType();
            a.put("type", type == null ? "application/octet-stream" : type);
            try (InputStream in = handler.getInputStream()) {
                a.put("content", in.readAllBytes());
            }
            List<Object> hs = new ArrayList<>();
            for (Map.Entry<String, List<String>> h : entry.getValue().headerEntries()) {
                hs.add(List.of(h.getKey(), String.join(",", h.getValue())));
            }
            a.put("headers", hs);
            attached.add(a);
        }
        out.put("attachments", attached);
        List<Object> soap = new ArrayList<>();
        for (SoapHeader header : soapHeaders) {
            Map<String, Object> h = new LinkedHashMap<>();
            QName name = header.getName();
            h.put("namespace", name == null ? "" : name.getNamespaceURI());
            h.put("local", name == null ? "" : name.getLocalPart());
            Object element = header.getElement();
            h.put("xml", element instanceof Node ? Convert.serialize((Node) element) : String.valueOf(element));
            h.put("must_understand", header.isMustUnderstand());
            h.put("actor", header.getActor());
            h.put("relay", header.isRelay());
            soap.add(h);
        }
        out.put("soap_headers", soap);
        return out;
    }

    private Object bodyValue() throws IOException {
        Object b = body;
        if (b == null) {
            return new byte[0];
        }
        if (b instanceof byte[] || b instanceof String) {
            return b;
        }
        if (b instanceof InputStream) {
            return ((InputStream) b).readAllBytes();
        }
        if (b instanceof CharSequence || b instanceof Reader || b instanceof Node || b instanceof Number
                || b instanceof Boolean) {
            return Convert.text(b, charset);
        }
        warnings.add("the body was set to a " + b.getClass().getName() + ", which has no text form for the"
                + " message; its toString() was sent (serialize it, e.g. with groovy.xml.XmlUtil.serialize)");
        return b.toString();
    }

    private static List<Object> pairs(Map<String, Object> map) {
        List<Object> out = new ArrayList<>(map.size());
        for (Map.Entry<String, Object> entry : map.entrySet()) {
            List<Object> pair = new ArrayList<>(2);
            pair.add(entry.getKey());
            pair.add(entry.getValue());
            out.add(pair);
        }
        return out;
    }

    @Override
    public String toString() {
        return "Message[" + (bodySet ? "body set" : raw.length + " bytes") + ", headers " + headers.keySet() + "]";
    }
}
