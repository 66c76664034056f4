"""Real-world-style Groovy scripts run on the warm JVM with CPI's script API."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cpimock.errors import HandlerLoadError
from cpimock.message import Attachment, Message
from cpimock.steps.groovy import JavaLong, JavaObject, ScriptCompileError, ScriptException, ScriptLoadError, runner
from cpimock.steps.groovy.step import GroovyStep
from cpimock.steps.pipeline import StepError, StepTimeout, load_pipeline

from .groovy_support import requires_groovy, run, write

pytestmark = requires_groovy

ORDER_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<Orders><Order id="1"><Customer>Ada</Customer><Amount>10.50</Amount></Order>
<Order id="2"><Customer>Grace</Customer><Amount>4.25</Amount></Order></Orders>"""


async def test_xml_slurper_to_json_with_log_properties_and_attachments(tmp_path: Path) -> None:
    write(
        tmp_path,
        "iflows/orders.groovy",
        """
        import com.sap.gateway.ip.core.customdev.util.Message
        import groovy.json.JsonOutput

        def Message processData(Message message) {
            def body = message.getBody(java.lang.String) as String
            def orders = new XmlSlurper().parseText(body)
            def out = orders.Order.collect {
                [id: it.@id.text(), customer: it.Customer.text(), amount: new BigDecimal(it.Amount.text())]
            }
            def messageLog = messageLogFactory.getMessageLog(message)
            if (messageLog != null) {
                messageLog.setStringProperty("Customers", out*.customer.join(","))
                messageLog.setIntegerProperty("OrderCount", out.size())
                messageLog.setLongProperty("Big", 5000000000L)
                messageLog.setBooleanProperty("Valid", true)
                messageLog.setDoubleProperty("Total", out*.amount.sum() as double)
                messageLog.setDateProperty("At", new Date(0))
                messageLog.addAttachmentAsString("Input", body, "text/xml")
                messageLog.addCustomHeaderProperty("OrderId", out[0].id)
            }
            message.setHeader("Content-Type", "application/json")
            message.setHeader("SAP_ApplicationID", out[0].id)
            message.setBody(JsonOutput.toJson(out))
            return message
        }
    """,
    )
    result = await run(tmp_path, "iflows/orders.groovy", Message(ORDER_XML, {"Content-Type": "application/xml"}))

    assert result.json() == [
        {"id": "1", "customer": "Ada", "amount": 10.50},
        {"id": "2", "customer": "Grace", "amount": 4.25},
    ]
    assert result.headers["SAP_ApplicationID"] == "1"
    assert result.log.properties == {
        "Customers": "Ada,Grace",
        "OrderCount": 2,
        "Big": 5000000000,
        "Valid": True,
        "Total": 14.75,
        "At": datetime(1970, 1, 1, tzinfo=UTC),
    }
    assert [(a.name, a.media_type, a.text) for a in result.log.attachments] == [
        ("Input", "text/xml", ORDER_XML.decode())
    ]
    assert result.log.custom_headers == [("OrderId", "1")]


async def test_json_slurper_through_a_reader_and_a_named_function(tmp_path: Path) -> None:
    write(
        tmp_path,
        "iflows/json.groovy",
        """
        import com.sap.gateway.ip.core.customdev.util.Message
        import groovy.json.JsonSlurper
        import groovy.json.JsonBuilder

        def Message transform(Message message) {
            def input = new JsonSlurper().parse(message.getBody(java.io.Reader))
            def builder = new JsonBuilder()
            builder.customer {
                name input.name.toUpperCase()
                items input.items.size()
            }
            message.setBody(builder.toString())
            message.setProperty("itemCount", input.items.size())
            return message
        }
    """,
    )
    body = b'{"name": "Ada", "items": [1, 2, 3]}'
    result = await run(tmp_path, "iflows/json.groovy:transform", Message(body, {"Content-Type": "application/json"}))
    assert result.json() == {"customer": {"name": "ADA", "items": 3}}
    assert result.properties["itemCount"] == 3


async def test_body_reads_stream_bytes_and_text_in_the_messages_charset(tmp_path: Path) -> None:
    write(
        tmp_path,
        "body.groovy",
        """
        def processData(message) {
            def stream = message.getBody()
            message.setProperty("streamed", new String(stream.bytes, "ISO-8859-1"))
            message.setProperty("again", stream.bytes.length)
            message.setProperty("bytes", message.getBody(byte[]).length)
            message.setProperty("text", message.getBody(String))
            message.setProperty("size", message.getBodySize())
            message.setProperty("dom", message.getBody(org.w3c.dom.Document).documentElement.tagName)
            message
        }
    """,
    )
    result = await run(
        tmp_path, "body.groovy", Message("<é/>".encode("latin-1"), {"Content-Type": "text/xml; charset=ISO-8859-1"})
    )
    assert result.properties == {"streamed": "<é/>", "again": 0, "bytes": 4, "text": "<é/>", "size": 4, "dom": "é"}
    assert result.body == "<é/>".encode("latin-1")  # not set by the script: the bytes as they were


def python_between(message: Message) -> None:
    """A Python step between two Groovy steps: what it sees of Java's types, and what it adds."""
    assert type(message.headers["int"]) is int
    assert message.headers["int"] == 1
    assert type(message.headers["long"]) is JavaLong
    assert message.properties["decimal"] == Decimal("1.10")
    assert message.properties["date"] == datetime(1970, 1, 2, tzinfo=UTC)
    assert message.properties["bytes"] == b"ab"
    assert message.properties["list"] == [1, "x", None, {"k": 3}]
    node = message.properties["node"]
    assert isinstance(node, JavaObject)
    assert node.java_class.endswith("NodeChild")
    assert str(node) == "text"
    message.properties["fromPython"] = 7
    message.properties["bigFromPython"] = 2**40


async def test_java_types_survive_the_next_groovy_step_and_python_sees_them(tmp_path: Path) -> None:
    write(
        tmp_path,
        "set.groovy",
        """
        def processData(message) {
            message.setHeader("int", 1)
            message.setHeader("long", 2L)
            message.setProperty("decimal", 1.10)
            message.setProperty("double", 2.5d)
            message.setProperty("date", new Date(86400000L))
            message.setProperty("bytes", "ab".bytes)
            message.setProperty("list", [1, "x", null, [k: 3L]])
            message.setProperty("node", new XmlSlurper().parseText("<a><b>text</b></a>"))
            message
        }
    """,
    )
    write(
        tmp_path,
        "read.groovy",
        """
        def processData(message) {
            def h = message.getHeaders()
            def p = message.getProperties()
            def values = [h.int, h.long, p.decimal, p.double, p.date, p.bytes, p.list[3].k, p.node,
                          p.fromPython, p.bigFromPython]
            message.setProperty("types", values.collect { it.getClass().simpleName })
            message.setProperty("nodeText", p.node.b.text())
            message.setProperty("intHeaderAsString", message.getHeader("int", String))
            message
        }
    """,
    )

    pipeline = load_pipeline(["set.groovy", "tests.steps.test_groovy_scripts:python_between", "read.groovy"], tmp_path)
    result = await pipeline.run(Message(b""), 30)
    assert result.properties["types"] == [
        "Integer",
        "Long",
        "BigDecimal",
        "Double",
        "Date",
        "byte[]",
        "Long",
        "NodeChild",
        "Integer",
        "Long",
    ]
    assert result.properties["nodeText"] == "text"
    assert result.properties["intHeaderAsString"] == "1"


async def test_attachments_and_soap_headers_cross_both_ways(tmp_path: Path) -> None:
    write(
        tmp_path,
        "attach.groovy",
        """
        import com.sap.gateway.ip.core.customdev.util.AttachmentWrapper
        import javax.activation.DataHandler
        import javax.mail.util.ByteArrayDataSource

        def processData(message) {
            def incoming = message.getAttachments()["in.txt"]
            def text = incoming.inputStream.text
            def source = new ByteArrayDataSource(text.reverse().bytes, "text/plain")
            def wrapper = new AttachmentWrapper(new DataHandler(source))
            wrapper.setHeader("Content-ID", "<out>")
            message.addAttachmentObject("out.txt", wrapper)
            message.setProperty("soap", message.getSoapHeaders()*.name*.localPart)
            message
        }
    """,
    )
    message = Message(b"")
    message.attachments["in.txt"] = Attachment("in.txt", b"abc", "text/plain", {"X-A": "1"})
    message.soap_headers = ['<h:Trace xmlns:h="urn:t">1</h:Trace>']
    result = await run(tmp_path, "attach.groovy", message)
    assert sorted(result.attachments) == ["in.txt", "out.txt"]
    out = result.attachments["out.txt"]
    assert (out.content, out.content_type, out.headers) == (b"cba", "text/plain", {"Content-ID": "<out>"})
    assert result.attachments["in.txt"].headers == {"X-A": "1"}
    assert result.properties["soap"] == ["Trace"]
    assert [(h.namespace, h.local) for h in result.soap_headers] == [("urn:t", "Trace")]


async def test_a_script_that_throws_fails_the_step_with_the_groovy_message_and_keeps_its_log(tmp_path: Path) -> None:
    write(
        tmp_path,
        "iflows/throws.groovy",
        """
        def processData(message) {
            messageLogFactory.getMessageLog(message).addAttachmentAsString("before", "seen", "text/plain")
            if (!message.getProperty("customer")) {
                throw new IllegalStateException("no customer in the order")
            }
            message
        }
    """,
    )
    message = Message(b"")
    with pytest.raises(StepError) as caught:
        await run(tmp_path, "iflows/throws.groovy", message)
    assert isinstance(caught.value.__cause__, ScriptException)
    assert str(caught.value.__cause__) == (
        "java.lang.IllegalStateException: no customer in the order @ line 4 in iflows/throws.groovy"
    )
    assert [a.name for a in message.log.attachments] == ["before"]
    # the twin: with the property set, the same script passes
    assert (await run(tmp_path, "iflows/throws.groovy", Message(b"", properties={"customer": "Ada"}))) is not None


async def test_a_compile_error_names_the_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "iflows/broken.groovy",
        """
        def processData(message) {
            def x = [1, 2
            message
        }
    """,
    )
    with pytest.raises(StepError) as caught:
        await run(tmp_path, "iflows/broken.groovy", Message(b""))
    cause = caught.value.__cause__
    assert isinstance(cause, ScriptCompileError)
    assert str(cause).startswith("iflows/broken.groovy: line 3, column ")


async def test_a_missing_function_names_the_ones_the_script_has(tmp_path: Path) -> None:
    write(
        tmp_path,
        "s.groovy",
        """
        def processData(message) { message }
        def helper(message) { message }
    """,
    )
    with pytest.raises(StepError) as caught:
        await run(tmp_path, "s.groovy:transform", Message(b""))
    assert isinstance(caught.value.__cause__, ScriptLoadError)
    assert "no function 'transform(message)' in the script; it defines: helper, processData" in str(caught.value)
    assert await run(tmp_path, "s.groovy:helper", Message(b"x")) is not None


async def test_a_missing_script_file_is_a_load_error_like_a_python_step(tmp_path: Path) -> None:
    with pytest.raises(HandlerLoadError, match="Groovy script not found"):
        load_pipeline(["iflows/nowhere.groovy"], tmp_path)
    pipeline = load_pipeline(["iflows/nowhere.groovy"], tmp_path, defer_errors=True)
    write(tmp_path, "iflows/nowhere.groovy", "def processData(m) { m.setBody('here now'); m }")
    assert (await pipeline.run(Message(b""), 30)).body == b"here now"


async def test_a_changed_script_is_compiled_again(tmp_path: Path) -> None:
    script = write(tmp_path, "hot.groovy", "def processData(m) { m.setBody('one'); m }")
    pipeline = load_pipeline(["hot.groovy"], tmp_path)
    assert (await pipeline.run(Message(b""), 30)).body == b"one"
    script.write_text("def processData(m) { m.setBody('two!'); m }")
    os.utime(script, ns=(script.stat().st_atime_ns, script.stat().st_mtime_ns + 1_000_000))
    assert (await pipeline.run(Message(b""), 30)).body == b"two!"


async def test_an_api_cpimock_lacks_is_named_not_a_stack_trace(tmp_path: Path) -> None:
    write(
        tmp_path,
        "unsupported.groovy",
        """
        import com.sap.it.api.ITApiFactory
        def processData(message) {
            message.getExchange()
            message
        }
    """,
    )
    with pytest.raises(StepError) as caught:
        await run(tmp_path, "unsupported.groovy", Message(b""))
    assert str(caught.value.__cause__) == (
        "java.lang.UnsupportedOperationException: cpimock does not support "
        "com.sap.gateway.ip.core.customdev.util.Message.getExchange() @ line 3 in unsupported.groovy"
    )
    write(
        tmp_path,
        "nrc.groovy",
        """
        import com.sap.it.api.ITApiFactory
        def processData(message) {
            ITApiFactory.getApi(Class.forName("java.lang.Runnable"), null)
            message
        }
    """,
    )
    with pytest.raises(StepError, match=r"cpimock does not support ITApiFactory.getApi\(java.lang.Runnable\)"):
        await run(tmp_path, "nrc.groovy", Message(b""))
    write(
        tmp_path,
        "sapclass.groovy",
        """
        import com.sap.it.api.nrc.NumberRangeConfigurationService
        def processData(message) { message }
    """,
    )
    with pytest.raises(StepError, match="cpimock does not provide that SAP class"):
        await run(tmp_path, "sapclass.groovy", Message(b""))


async def test_a_script_that_loops_forever_is_stopped_and_the_next_call_is_served(tmp_path: Path) -> None:
    write(
        tmp_path,
        "loop.groovy",
        """
        def processData(message) {
            long n = 0
            while (true) { n++ }
        }
    """,
    )
    write(tmp_path, "ok.groovy", "def processData(m) { m.setBody('served'); m }")
    with pytest.raises(StepTimeout, match="ran past the iFlow's timeout of 1 s"):
        await run(tmp_path, "loop.groovy", Message(b""), timeout_s=1)
    worker = next(iter(runner._WORKERS.values()))
    pid = worker.pid
    assert (await run(tmp_path, "ok.groovy", Message(b""))).body == b"served"
    assert worker.pid == pid  # the thread was stopped; the JVM lives on


async def test_a_script_that_cannot_be_stopped_costs_the_jvm_and_the_next_call_gets_a_new_one(tmp_path: Path) -> None:
    write(
        tmp_path,
        "stubborn.groovy",
        """
        def processData(message) {
            while (true) {
                try { while (true) { } } catch (Throwable ignored) { }
            }
        }
    """,
    )
    write(tmp_path, "ok.groovy", "def processData(m) { m.setBody('served'); m }")
    assert (await run(tmp_path, "ok.groovy", Message(b""))).body == b"served"
    worker = next(iter(runner._WORKERS.values()))
    pid = worker.pid
    with pytest.raises(StepTimeout):
        await run(tmp_path, "stubborn.groovy", Message(b""), timeout_s=0.5)
    deadline = asyncio.get_running_loop().time() + runner.KILL_AFTER_S + 10
    while worker.pid == pid and worker.running:
        assert asyncio.get_running_loop().time() < deadline, "the JVM was not killed"
        await asyncio.sleep(0.05)
    assert (await run(tmp_path, "ok.groovy", Message(b""))).body == b"served"
    assert worker.pid != pid


async def test_a_crashed_jvm_fails_its_call_cleanly_and_the_next_call_gets_a_new_one(tmp_path: Path) -> None:
    write(tmp_path, "crash.groovy", "def processData(message) { Runtime.getRuntime().halt(7) }")
    write(tmp_path, "ok.groovy", "def processData(m) { m.setBody('served'); m }")
    with pytest.raises(StepError, match=r"raised WorkerStopped: the Groovy worker \(JVM\) stopped with status 7"):
        await run(tmp_path, "crash.groovy", Message(b""))
    assert (await run(tmp_path, "ok.groovy", Message(b""))).body == b"served"


async def test_calls_run_at_the_same_time(tmp_path: Path) -> None:
    write(
        tmp_path,
        "slow.groovy",
        """
        def processData(message) {
            Thread.sleep(300)
            message.setBody(message.getBody(String) + "!")
            message
        }
    """,
    )
    pipeline = load_pipeline(["slow.groovy"], tmp_path)
    await pipeline.run(Message(b"warm"), 30)
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(pipeline.run(Message(str(i).encode()), 30) for i in range(8)))
    assert [r.body for r in results] == [f"{i}!".encode() for i in range(8)]
    assert asyncio.get_running_loop().time() - started < 8 * 0.3


async def test_the_flows_lib_jars_are_on_the_scripts_class_path(tmp_path: Path) -> None:
    import subprocess
    import zipfile

    from cpimock.steps.groovy.toolchain import find_toolchain

    source = write(
        tmp_path / "src",
        "acme/Greeter.java",
        """
        package acme;
        public class Greeter { public static String greet(String who) { return "Hello " + who; } }
    """,
    )
    classes = tmp_path / "classes"
    javac = find_toolchain().javac
    subprocess.run([str(javac), "-d", str(classes), str(source)], check=True)
    lib = tmp_path / "flow" / "lib"
    lib.mkdir(parents=True)
    with zipfile.ZipFile(lib / "greeter.jar", "w") as jar:
        jar.write(classes / "acme" / "Greeter.class", "acme/Greeter.class")
    write(
        tmp_path,
        "flow/script/greet.groovy",
        """
        import acme.Greeter
        def processData(message) { message.setBody(Greeter.greet(message.getBody(String))); message }
    """,
    )
    assert (await run(tmp_path, "flow/script/greet.groovy", Message(b"Ada"))).body == b"Hello Ada"
    write(
        tmp_path,
        "other/greet.groovy",
        """
        import acme.Greeter
        def processData(message) { message }
    """,
    )
    with pytest.raises(StepError, match=r"unable to resolve class acme\.Greeter"):
        await run(tmp_path, "other/greet.groovy", Message(b""))


def test_groovy_references_parse_with_and_without_a_function(tmp_path: Path) -> None:
    write(tmp_path, "iflows/a.groovy", "def processData(m) { m }")
    pipeline = load_pipeline(["iflows/a.groovy", "iflows/a.groovy:other"], tmp_path)
    steps = [s.func for s in pipeline._steps]
    assert all(isinstance(s, GroovyStep) for s in steps)
    assert [(s.display, s.function) for s in steps] == [
        ("iflows/a.groovy", "processData"),
        ("iflows/a.groovy", "other"),
    ]  # type: ignore[union-attr]
    with pytest.raises(HandlerLoadError, match="not a function name"):
        load_pipeline(["iflows/a.groovy:no-such"], tmp_path)
