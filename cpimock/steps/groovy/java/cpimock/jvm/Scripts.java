package cpimock.jvm;

import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

import org.codehaus.groovy.control.CompilerConfiguration;
import org.codehaus.groovy.control.MultipleCompilationErrorsException;
import org.codehaus.groovy.control.messages.ExceptionMessage;
import org.codehaus.groovy.control.messages.Message;
import org.codehaus.groovy.control.messages.SyntaxErrorMessage;
import org.codehaus.groovy.runtime.InvokerHelper;
import org.codehaus.groovy.syntax.SyntaxException;

import groovy.lang.Binding;
import groovy.lang.GroovyClassLoader;
import groovy.lang.GroovyCodeSource;
import groovy.lang.MissingMethodException;
import groovy.lang.MissingPropertyException;
import groovy.lang.Script;

/**
 * Compiling scripts (once per file version and class path) and calling their functions.
 *
 * <p>A script is compiled again when its file's modification time or size changes, so a saved
 * script is used by the next call, as Python step files are. A file that is gone keeps serving
 * the version compiled before. Each class path (a flow's {@code lib/*.jar}) has a class loader of
 * its own, whose parent holds the script API: a flow's jars cannot replace it.
 */
final class Scripts {
    private static final Map<String, GroovyClassLoader> LOADERS = new ConcurrentHashMap<>();
    private static final Map<String, Compiled> COMPILED = new ConcurrentHashMap<>();
    private static final Map<String, Object> LOCKS = new ConcurrentHashMap<>();

    private Scripts() {
    }

    private static final class Compiled {
        final long modified;
        final long size;
        final Class<?> type;

        Compiled(long modified, long size, Class<?> type) {
            this.modified = modified;
            this.size = size;
            this.type = type;
        }
    }

    static Class<?> load(String path, List<?> classpath, String classpathKey) throws Failure {
        String key = classpathKey + "\n" + path;
        File file = new File(path);
        Compiled compiled = COMPILED.get(key);
        if (!file.isFile()) {
            if (compiled != null) {
                return compiled.type;
            }
            throw new Failure("load", "the script file is not there (looked for " + path + ")");
        }
        synchronized (LOCKS.computeIfAbsent(key, k -> new Object())) {
            long modified = file.lastModified();
            long size = file.length();
            compiled = COMPILED.get(key);
            if (compiled != null && compiled.modified == modified && compiled.size == size) {
                return compiled.type;
            }
            String source;
            try {
                source = new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new Failure("load", "cannot read the script file: " + e.getMessage());
            }
            GroovyClassLoader loader = loader(classpath, classpathKey);
            Class<?> type;
            try {
                type = loader.parseClass(new GroovyCodeSource(source, file.getName(), "/groovy/script"), false);
            } catch (MultipleCompilationErrorsException e) {
                throw compileFailure(e);
            } catch (RuntimeException | LinkageError e) {
                throw new Failure("compile", e.getClass().getName(), String.valueOf(e.getMessage()), -1, -1,
                        trace(e));
            }
            COMPILED.put(key, new Compiled(modified, size, type));
            return type;
        }
    }

    private static GroovyClassLoader loader(List<?> classpath, String classpathKey) {
        return LOADERS.computeIfAbsent(classpathKey, k -> {
            CompilerConfiguration config = new CompilerConfiguration();
            config.setSourceEncoding("UTF-8");
            GroovyClassLoader loader = new GroovyClassLoader(Scripts.class.getClassLoader(), config);
            for (Object entry : classpath) {
                loader.addClasspath(String.valueOf(entry));
            }
            return loader;
        });
    }

    private static Failure compileFailure(MultipleCompilationErrorsException e) {
        List<?> errors = e.getErrorCollector().getErrors();
        String text = e.getMessage();
        int line = -1;
        int column = -1;
        if (errors != null && !errors.isEmpty()) {
            Object first = errors.get(0);
            if (first instanceof SyntaxErrorMessage) {
                SyntaxException cause = ((SyntaxErrorMessage) first).getCause();
                text = cause.getOriginalMessage();
                line = cause.getLine();
                column = cause.getStartColumn();
            } else if (first instanceof ExceptionMessage) {
                text = String.valueOf(((ExceptionMessage) first).getCause());
            } else if (first instanceof Message) {
                StringWriter out = new StringWriter();
                ((Message) first).write(new PrintWriter(out));
                text = out.toString().trim();
            }
            if (errors.size() > 1) {
                text += " (and " + (errors.size() - 1) + " more error" + (errors.size() > 2 ? "s" : "") + ")";
            }
        }
        if (text != null && text.contains("unable to resolve class com.sap.")) {
            text += "; cpimock does not provide that SAP class";
        }
        return new Failure("compile", "", text, line, column, e.getMessage());
    }

    /** Calls {@code function(message)} of the script; the log collects its message log calls. */
    static void call(Class<?> type, String function, ScriptMessage message, ScriptLog log) throws Failure {
        if (!hasFunction(type, function)) {
            throw new Failure("function", "", "no function '" + function + "(message)' in the script; it defines: "
                    + String.join(", ", functions(type)), -1, -1, "");
        }
        Binding binding = new Binding();
        binding.setVariable("messageLogFactory", log);
        Script script = InvokerHelper.createScript(type, binding);
        try {
            script.invokeMethod(function, new Object[] {message});
        } catch (Throwable e) { // the script's own failure, whatever it threw
            throw scriptFailure(type, e);
        }
    }

    private static boolean hasFunction(Class<?> type, String function) {
        for (Method method : type.getMethods()) {
            if (method.getName().equals(function) && method.getParameterCount() == 1) {
                return true;
            }
        }
        return false;
    }

    private static List<String> functions(Class<?> type) {
        TreeSet<String> names = new TreeSet<>();
        for (Method method : type.getDeclaredMethods()) {
            int modifiers = method.getModifiers();
            if (Modifier.isPublic(modifiers) && !method.isSynthetic() && !method.getName().equals("run")
                    && !method.getName().equals("main") && !method.getName().startsWith("$")
                    && !method.getName().startsWith("super$")) {
                names.add(method.getName());
            }
        }
        return new ArrayList<>(names);
    }

    private static Failure scriptFailure(Class<?> type, Throwable thrown) {
        Throwable e = thrown;
        // Groovy's reflection wraps what the script threw; the user wants the script's own exception
        while ((e instanceof org.codehaus.groovy.runtime.InvokerInvocationException
                || e instanceof java.lang.reflect.InvocationTargetException) && e.getCause() != null) {
            e = e.getCause();
        }
        int line = lineIn(type, e);
        if (e instanceof ThreadDeath || e instanceof InterruptedException) {
            return new Failure("cancelled", e.getClass().getName(), "stopped after the timeout", line, -1, "");
        }
        if (e instanceof MissingMethodException) {
            MissingMethodException missing = (MissingMethodException) e;
            String api = apiName(missing.getType());
            if (api != null) {
                return new Failure("unsupported", e.getClass().getName(), "cpimock does not support " + api + "."
                        + missing.getMethod() + "(" + argumentTypes(missing.getArguments()) + ")", line, -1, trace(e));
            }
        }
        if (e instanceof MissingPropertyException) {
            MissingPropertyException missing = (MissingPropertyException) e;
            String api = apiName(missing.getType());
            if (api != null) {
                return new Failure("unsupported", e.getClass().getName(), "cpimock does not support the property "
                        + api + "." + missing.getProperty(), line, -1, trace(e));
            }
        }
        String text = e.getMessage();
        if (e instanceof UnsupportedOperationException && text != null && text.startsWith("cpimock ")) {
            return new Failure("unsupported", e.getClass().getName(), text, line, -1, trace(e));
        }
        return new Failure("script", e.getClass().getName(), text == null ? "" : text, line, -1, trace(e));
    }

    /** The public name of a class of the script API, or null for a class that is not one. */
    private static String apiName(Class<?> type) {
        if (type == null) {
            return null;
        }
        if (type == ScriptMessage.class) {
            return "com.sap.gateway.ip.core.customdev.util.Message";
        }
        if (type == ScriptLog.class) {
            return "com.sap.it.api.msglog.MessageLog";
        }
        String name = type.getName();
        if (name.startsWith("cpimock.jvm.Services$")) {
            Class<?>[] interfaces = type.getInterfaces();
            return interfaces.length > 0 ? interfaces[0].getName() : name;
        }
        if (name.startsWith("com.sap.") || name.startsWith("javax.activation.") || name.startsWith("javax.mail.util.")) {
            return name;
        }
        return null;
    }

    private static String argumentTypes(Object[] arguments) {
        List<String> names = new ArrayList<>();
        if (arguments != null) {
            for (Object argument : arguments) {
                names.add(argument == null ? "null" : argument.getClass().getSimpleName());
            }
        }
        return String.join(", ", names);
    }

    /** The line of the script (or one of its closures) where the failure was raised. */
    static int lineIn(Class<?> type, Throwable e) {
        String name = type.getName();
        for (Throwable t = e; t != null; t = t.getCause()) {
            for (StackTraceElement frame : t.getStackTrace()) {
                String cls = frame.getClassName();
                if ((cls.equals(name) || cls.startsWith(name + "$")) && frame.getLineNumber() > 0) {
                    return frame.getLineNumber();
                }
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return -1;
    }

    static String trace(Throwable e) {
        StringWriter out = new StringWriter();
        e.printStackTrace(new PrintWriter(out));
        String text = out.toString();
        return text.length() > 20000 ? text.substring(0, 20000) + "..." : text;
    }
}
