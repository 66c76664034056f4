/*
 * The demo iFlow step in Groovy: the twin of demo.py, run unmodified on a JVM as CPI runs it.
 *
 * Switch the demo iFlow to it with one line in cpimock.toml (needs Java and Groovy:
 * `apt-get install groovy default-jdk-headless`):
 *
 *     steps = ["iflows/demo.groovy"]
 *
 * cpimock calls processData (CPI's default Script Function) for every request.
 */
import com.sap.gateway.ip.core.customdev.util.Message
import groovy.json.JsonSlurper

def Message processData(Message message) {
    def body = message.getBody(byte[].class) ?: new byte[0]
    def contentType = message.getHeader("Content-Type", String) ?: "no content type"
    def name = nameOf(message)
    def props = message.getProperties()

    def lines = ["Hello ${name}, cpimock received your message of ${body.length} bytes (${contentType})."]
    if (props.get("CpimockServiceKey")) {
        def roles = (props.get("CpimockRoles") ?: []).join(", ") ?: "none"
        lines << "Caller: service key ${props.get('CpimockServiceKey')}, instance ${props.get('CpimockServiceInstance')}, roles ${roles}"
    }
    if (props.get("CpimockCertificateSubject")) {
        lines << "Certificate: ${props.get('CpimockCertificateSubject')} (serial ${props.get('CpimockCertificateSerial')}, issued by ${props.get('CpimockCertificateIssuer')})"
    }
    if (props.get("SAP_MessageProcessingLogID")) {
        lines << "Message processing log ID: ${props.get('SAP_MessageProcessingLogID')}"
    }

    // what the monitor shows: a custom header property to search by, and the message type
    def messageLog = messageLogFactory.getMessageLog(message)
    if (messageLog != null) {
        messageLog.addCustomHeaderProperty("greeted", name)
    }
    message.setHeader("SAP_MessageType", "Greeting")
    message.setHeader("Content-Type", "text/plain; charset=utf-8")
    message.setBody(lines.join("\n") + "\n")
    return message
}

/* The name of a JSON object body, else the first line of a text body, else "there". */
def String nameOf(Message message) {
    def text = (message.getBody(String) ?: "").trim()
    if (!text) {
        return "there"
    }
    if (text.startsWith("{")) {
        try {
            def data = new JsonSlurper().parseText(text)
            if (data instanceof Map) {
                def value = data.name ?: data.Name
                return value ? value.toString().take(80) : "there"
            }
        } catch (Exception ignored) {
            // not JSON after all: the first line below
        }
    }
    return text.readLines()[0].take(80)
}
