package cpimock.jvm;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Java objects that stay in the JVM while Python holds a handle to them (a Groovy NodeChild in
 * an exchange property, say). Python releases a handle when its placeholder is collected.
 */
final class Handles {
    private static final Map<Long, Object> OBJECTS = new ConcurrentHashMap<>();
    private static final AtomicLong NEXT = new AtomicLong(1);

    private Handles() {
    }

    static long put(Object value) {
        long id = NEXT.getAndIncrement();
        OBJECTS.put(id, value);
        return id;
    }

    static Object get(long id) throws java.io.IOException {
        Object value = OBJECTS.get(id);
        if (value == null) {
            throw new java.io.IOException("Java object handle " + id + " was released");
        }
        return value;
    }

    static void release(long id) {
        OBJECTS.remove(id);
    }

    static int size() {
        return OBJECTS.size();
    }
}
