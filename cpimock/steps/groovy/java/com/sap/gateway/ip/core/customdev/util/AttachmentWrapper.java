package com.sap.gateway.ip.core.customdev.util;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import javax.activation.DataHandler;
import javax.activation.DataSource;

/** An attachment with MIME headers (on CPI a subclass of Camel's {@code DefaultAttachment}). */
public class AttachmentWrapper {
    private final DataHandler dataHandler;
    // MIME header names compare case-insensitively; the key is the lower-case name
    private final Map<String, Map.Entry<String, List<String>>> headers = new LinkedHashMap<>();

    public AttachmentWrapper(DataHandler dataHandler) {
        if (dataHandler == null) {
            throw new IllegalArgumentException("AttachmentWrapper: the DataHandler is null");
        }
        this.dataHandler = dataHandler;
    }

    public AttachmentWrapper(DataSource dataSource) {
        this(new DataHandler(dataSource));
    }

    public DataHandler getDataHandler() {
        return dataHandler;
    }

    public String getHeader(String name) {
        List<String> values = getHeaderAsList(name);
        return values == null ? null : String.join(",", values);
    }

    public List<String> getHeaderAsList(String name) {
        Map.Entry<String, List<String>> entry = headers.get(key(name));
        return entry == null ? null : entry.getValue();
    }

    public Collection<String> getHeaderNames() {
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, List<String>> entry : headers.values()) {
            names.add(entry.getKey());
        }
        return Collections.unmodifiableList(names);
    }

    public void addHeader(String name, String value) {
        Map.Entry<String, List<String>> entry = headers.get(key(name));
        if (entry == null) {
            setHeader(name, value);
        } else {
            entry.getValue().add(value);
        }
    }

    public void setHeader(String name, String value) {
        List<String> values = new ArrayList<>();
        values.add(value);
        headers.put(key(name), new java.util.AbstractMap.SimpleEntry<>(name, values));
    }

    public void removeHeader(String name) {
        headers.remove(key(name));
    }

    /** The header names as last set, for cpimock's bridge. */
    public Set<Map.Entry<String, List<String>>> headerEntries() {
        Set<Map.Entry<String, List<String>>> entries = new java.util.LinkedHashSet<>(headers.values());
        return Collections.unmodifiableSet(entries);
    }

    private static String key(String name) {
        if (name == null) {
            throw new IllegalArgumentException("attachment header names are not null");
        }
        return name.toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public String toString() {
        return "AttachmentWrapper[" + dataHandler.getName() + ", " + dataHandler.getContentType() + "]";
    }
}
