package javax.activation;

import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URLConnection;

/** A file as a {@link DataSource}; the content type is guessed from the file name. */
public class FileDataSource implements DataSource {
    private final File file;

    public FileDataSource(File file) {
        this.file = file;
    }

    public FileDataSource(String name) {
        this(new File(name));
    }

    public File getFile() {
        return file;
    }

    @Override
    public InputStream getInputStream() throws IOException {
        return new FileInputStream(file);
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
        return new FileOutputStream(file);
    }

    @Override
    public String getContentType() {
        String type = URLConnection.guessContentTypeFromName(file.getName());
        return type != null ? type : "application/octet-stream";
    }

    @Override
    public String getName() {
        return file.getName();
    }
}
