package javax.activation;

import java.io.IOException;

/** A {@link DataHandler} cannot turn its object into a stream. */
public class UnsupportedDataTypeException extends IOException {
    private static final long serialVersionUID = 1L;

    public UnsupportedDataTypeException(String message) {
        super(message);
    }
}
