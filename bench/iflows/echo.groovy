/*
 * The benchmark's Groovy step (W7): the twin of echo.py, answering with the request body
 * unchanged. It runs on cpimock's JVM worker, so its figures against echo.py are what a Groovy
 * step costs per call over the same step in Python.
 */
import com.sap.gateway.ip.core.customdev.util.Message

def Message processData(Message message) {
    return message
}
