package cpimock.jvm;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The JVM side of cpimock's Groovy runner: reads calls from stdin, runs each script call on a
 * thread of its own, writes answers to stdout.
 *
 * <p>A frame is a 4-byte big-endian length, then a kind byte, a 4-byte call id and one value
 * (see {@link Wire}). Python sends calls ('C'), cancels ('X') and service settings ('S'); the
 * worker answers with hello ('H', once), results ('A') and failures ('E'). What scripts print
 * goes to stderr, as stdout carries the frames. The worker ends when stdin closes, so it never
 * outlives the process that started it.
 */
public final class Worker {
    static final int MAX_FRAME = Integer.MAX_VALUE - 8;
    // after an interrupt, a script that still runs is stopped this much later
    static final long STOP_AFTER_MS = 500;

    private static DataOutputStream out;
    private static final Map<Integer, Thread> RUNNING = new ConcurrentHashMap<>();
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread thread = new Thread(r, "cpimock-timer");
        thread.setDaemon(true);
        return thread;
    });

    private Worker() {
    }

    public static void main(String[] args) throws IOException {
        out = new DataOutputStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16));
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true, "UTF-8"));
        System.setIn(new ByteArrayInputStream(new byte[0]));
        DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(FileDescriptor.in), 1 << 16));
        Map<String, Object> hello = new LinkedHashMap<>();
        hello.put("java", System.getProperty("java.version"));
        hello.put("groovy", groovy.lang.GroovySystem.getVersion());
        hello.put("pid", ProcessHandle.current().pid());
        send('H', 0, hello);
        while (true) {
            int length;
            try {
                length = in.readInt();
            } catch (EOFException e) {
                break;
            }
            if (length < 5 || length > MAX_FRAME) {
                System.err.println("cpimock worker: a frame of " + length + " bytes; stopping");
                System.exit(3);
            }
            byte[] frame = new byte[length];
            in.readFully(frame);
            dispatch(frame);
        }
        System.exit(0);
    }

    private static void dispatch(byte[] frame) {
        int kind = frame[0];
        int id = ((frame[1] & 0xff) << 24) | ((frame[2] & 0xff) << 16) | ((frame[3] & 0xff) << 8) | (frame[4] & 0xff);
        Wire.Reader reader = new Wire.Reader(
                new DataInputStream(new ByteArrayInputStream(frame, 5, frame.length - 5)), frame.length - 5);
        switch (kind) {
            case 'C':
                Map<?, ?> call;
                try {
                    call = (Map<?, ?>) reader.value();
                    for (Object handle : (List<?>) call.get("release")) {
                        Handles.release(((Number) handle).longValue());
                    }
                } catch (IOException | RuntimeException e) {
                    fail(id, new Failure("bridge", "the call could not be read: " + e.getMessage()), null);
                    return;
                }
                Thread thread = new Thread(() -> run(id, call), "cpimock-script-" + id);
                thread.setDaemon(true);
                RUNNING.put(id, thread);
                thread.start();
                break;
            case 'X':
                cancel(id);
                break;
            case 'S':
                try {
                    Map<?, ?> settings = (Map<?, ?>) reader.value();
                    Services.store((String) settings.get("key"), settings);
                } catch (IOException | RuntimeException e) {
                    System.err.println("cpimock worker: settings could not be read: " + e);
                }
                break;
            default:
                System.err.println("cpimock worker: unknown frame kind " + kind);
        }
    }

    @SuppressWarnings("removal")
    private static void cancel(int id) {
        Thread thread = RUNNING.get(id);
        if (thread == null) {
            return;
        }
        thread.interrupt();
        TIMER.schedule(() -> {
            if (RUNNING.get(id) == thread) {
                // a loop that never checks for interrupts: Java 17 can still stop the thread
                thread.stop();
            }
        }, STOP_AFTER_MS, TimeUnit.MILLISECONDS);
    }

    private static void run(int id, Map<?, ?> call) {
        ScriptLog log = new ScriptLog();
        ScriptMessage message = null;
        try {
            message = new ScriptMessage(call);
            String key = (String) call.get("settings");
            Services.enter(Services.settings(key));
            Class<?> type = Scripts.load((String) call.get("script"), (List<?>) call.get("classpath"),
                    (String) call.get("classpath_key"));
            Scripts.call(type, (String) call.get("function"), message, log);
            Map<String, Object> answer = message.answer();
            answer.put("log", log.calls());
            answer.put("warnings", message.warnings);
            send('A', id, answer);
        } catch (Failure failure) {
            fail(id, failure, log);
        } catch (Throwable e) { // the bridge's own failure (an answer that cannot be encoded, say)
            fail(id, new Failure("bridge", e.getClass().getName(), String.valueOf(e.getMessage()), -1, -1,
                    Scripts.trace(e)), log);
        } finally {
            Services.leave();
            RUNNING.remove(id);
        }
    }

    private static void fail(int id, Failure failure, ScriptLog log) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("kind", failure.kind);
        error.put("type", failure.type);
        error.put("message", String.valueOf(failure.getMessage()));
        error.put("line", failure.line);
        error.put("column", failure.column);
        error.put("trace", failure.trace);
        error.put("log", log == null ? List.of() : log.calls());
        try {
            send('E', id, error);
        } catch (Throwable e) { // the log held something that cannot cross: send the failure alone
            error.put("log", List.of());
            try {
                send('E', id, error);
            } catch (IOException again) {
                System.err.println("cpimock worker: cannot answer call " + id + ": " + again);
            }
        }
    }

    static void send(int kind, int id, Object value) throws IOException {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        DataOutputStream data = new DataOutputStream(buffer);
        data.writeByte(kind);
        data.writeInt(id);
        new Wire.Writer(data).value(value);
        data.flush();
        synchronized (Worker.class) {
            out.writeInt(buffer.size());
            buffer.writeTo(out);
            out.flush();
        }
    }
}
