import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * Readiness probe for the test broker started by scripts/services.sh.
 *
 * Usage: ReadyCheck BOOTSTRAP TIMEOUT_SECONDS [BROKER_PID]
 *
 * Succeeds once the broker lists topics and accepts a validate-only topic
 * creation (which needs a live controller and at least one unfenced broker),
 * i.e. once tests can really create topics. Gives up early if BROKER_PID
 * exits. Exit code 0 when ready, 1 otherwise.
 */
public final class ReadyCheck {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
        long pid = args.length > 2 ? Long.parseLong(args[2]) : -1;

        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "services-ready-check");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");

        String last = "no attempt";
        try (Admin admin = Admin.create(p)) {
            while (true) {
                try {
                    int nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
                    if (nodes < 1) {
                        throw new IllegalStateException("no broker registered");
                    }
                    admin.listTopics(new ListTopicsOptions().listInternal(true)).names().get(5, TimeUnit.SECONDS);
                    admin.createTopics(
                            List.of(new NewTopic("services-ready-check", 1, (short) 1)),
                            new CreateTopicsOptions().validateOnly(true).timeoutMs(5000))
                        .all().get(5, TimeUnit.SECONDS);
                    System.out.println("kafka ready: " + nodes + " broker(s)");
                    System.exit(0);
                } catch (Exception e) {
                    Throwable c = e.getCause() != null ? e.getCause() : e;
                    last = c.toString();
                }
                if (pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) == false) {
                    System.err.println("kafka broker process " + pid + " exited; last error: " + last);
                    System.exit(1);
                }
                if (System.nanoTime() > deadline) {
                    System.err.println("kafka not ready in time; last error: " + last);
                    System.exit(1);
                }
                Thread.sleep(200);
            }
        }
    }
}
