package com.sap.it.api.msglog;

/** The {@code messageLogFactory} binding variable of a script. */
public interface MessageLogFactory {
    MessageLog getMessageLog(Object message);
}
