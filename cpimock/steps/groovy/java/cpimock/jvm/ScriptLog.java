package cpimock.jvm;

import java.util.ArrayList;
import java.util.Date;
import java.util.List;

import com.sap.it.api.msglog.MessageLog;
import com.sap.it.api.msglog.MessageLogFactory;

/**
 * The message log of one call: every call is kept, in order, and replayed into the Python
 * message's log, so that it reaches the message processing log as a Python step's would.
 */
final class ScriptLog implements MessageLog, MessageLogFactory {
    private final List<Object> calls = new ArrayList<>();

    /** The calls as [operation, name, value, media type] lists, for the answer. */
    synchronized List<Object> calls() {
        return new ArrayList<>(calls);
    }

    @Override
    public MessageLog getMessageLog(Object message) {
        return this;
    }

    private synchronized void add(String operation, String name, Object value, String mediaType) {
        if (name == null) {
            throw new IllegalArgumentException("MessageLog: the name of a " + operation + " is null");
        }
        List<Object> call = new ArrayList<>(4);
        call.add(operation);
        call.add(name);
        call.add(value);
        call.add(mediaType);
        calls.add(call);
    }

    private void property(String method, String name, Object value) {
        if (value == null) {
            throw new IllegalArgumentException("MessageLog." + method + "(\"" + name + "\", null): the value is null");
        }
        add("property", name, value, null);
    }

    @Override
    public void setStringProperty(String name, String value) {
        property("setStringProperty", name, value);
    }

    @Override
    public void setIntegerProperty(String name, Integer value) {
        property("setIntegerProperty", name, value);
    }

    @Override
    public void setLongProperty(String name, Long value) {
        property("setLongProperty", name, value);
    }

    @Override
    public void setBooleanProperty(String name, Boolean value) {
        property("setBooleanProperty", name, value);
    }

    @Override
    public void setFloatProperty(String name, Float value) {
        property("setFloatProperty", name, value);
    }

    @Override
    public void setDoubleProperty(String name, Double value) {
        property("setDoubleProperty", name, value);
    }

    @Override
    public void setDateProperty(String name, Date value) {
        property("setDateProperty", name, value);
    }

    @Override
    public void addAttachmentAsString(String name, String text, String mediaType) {
        add("attachment", name, text == null ? "" : text, mediaType);
    }

    @Override
    public void addCustomHeaderProperty(String name, String value) {
        add("header", name, value, null);
    }
}
