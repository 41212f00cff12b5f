// tests/real/Server.java - the Java server of tests/real/run.sh.
// java Server HOST PORT READYFILE: an HttpServer bound to HOST:PORT (the JVM
// opens an IPv6 socket even for an IPv4 HOST, so the listener is bound to
// [::ffff:HOST]:PORT), holding state in its heap: a counter (/inc adds one
// and answers the new value) and 8 MiB of numbers made at start.  /get
// answers "count=N sum=S", S the sum over those numbers computed now, so a
// client sees both survive a move.  Writes its pid to READYFILE once it
// serves.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

public class Server {
    static final AtomicLong count = new AtomicLong();
    static final long[] data = new long[1 << 20];

    static void reply(HttpExchange ex, String body) throws IOException {
        byte[] b = (body + "\n").getBytes(StandardCharsets.US_ASCII);
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream o = ex.getResponseBody()) {
            o.write(b);
        }
    }

    static long sum() {
        long s = 0;
        for (long v : data)
            s += v;
        return s;
    }

    public static void main(String[] a) throws Exception {
        Random r = new Random(42);
        for (int i = 0; i < data.length; i++)
            data[i] = r.nextLong();
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getByName(a[0]), Integer.parseInt(a[1])), 16);
        s.createContext("/inc", ex -> reply(ex, Long.toString(count.incrementAndGet())));
        s.createContext("/get", ex -> reply(ex, "count=" + count.get() + " sum=" + sum()));
        s.start();
        Files.writeString(Path.of(a[2] + ".tmp"), ProcessHandle.current().pid() + "\n");
        Files.move(Path.of(a[2] + ".tmp"), Path.of(a[2]));
    }
}
