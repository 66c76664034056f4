package cpimock.jvm;

/** Why a call failed, in the parts Python words it from (kinds: see bridge.py). */
final class Failure extends Exception {
    private static final long serialVersionUID = 1L;

    final String kind;
    final String type;
    final int line;
    final int column;
    final String trace;

    Failure(String kind, String type, String message, int line, int column, String trace) {
        super(message);
        this.kind = kind;
        this.type = type;
        this.line = line;
        this.column = column;
        this.trace = trace;
    }

    Failure(String kind, String message) {
        this(kind, "", message, -1, -1, "");
    }
}
