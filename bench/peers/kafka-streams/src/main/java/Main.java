import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The benchmark's transform as a Kafka Streams application: parse each value as a JSON object,
 * drop it if its {@code level} is {@code "debug"}, otherwise append {@code "pipeline":"bench"}
 * and write it as compact JSON to the output topic. Keys, headers and timestamps are passed on
 * by Kafka Streams itself. A value that is not a JSON object is logged and skipped, as the other
 * peers skip it.
 *
 * <p>Environment: BENCH_BROKERS, BENCH_INPUT, BENCH_OUTPUT, BENCH_GROUP (the application id),
 * and optionally BENCH_STATE_DIR. Runs until SIGTERM, then closes the client (committing what it
 * has produced) and exits 0, or 1 if the close did not finish within 10 s or the client failed.
 */
public final class Main {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static volatile int exitCode = 0;

  public static void main(String[] args) throws Exception {
    String stateDirEnv = System.getenv("BENCH_STATE_DIR");
    Path stateDir = stateDirEnv != null ? Path.of(stateDirEnv) : Files.createTempDirectory("kafka-streams-peer-");

    Serde<byte[]> bytes = Serdes.ByteArray();
    Serde<ObjectNode> json = Serdes.serdeFrom(Main::write, Main::read);
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(env("BENCH_INPUT"), Consumed.with(bytes, json))
        .filter((key, value) -> value != null && !isDebug(value))
        .mapValues(value -> value.put("pipeline", "bench"))
        .to(env("BENCH_OUTPUT"), Produced.with(bytes, json));

    KafkaStreams streams = new KafkaStreams(builder.build(), config(stateDir));
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) stopped.countDown();
    });
    streams.setUncaughtExceptionHandler(error -> {
      System.err.println("kafka-streams-peer: " + error);
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      boolean closed = streams.close(Duration.ofSeconds(10));
      if (stateDirEnv == null) deleteTree(stateDir);
      System.err.flush();
      // The JVM would exit 143 after SIGTERM; say instead whether the close was clean.
      Runtime.getRuntime().halt(closed ? exitCode : 1);
    }, "bench-shutdown"));

    streams.start();
    stopped.await();
    if (streams.state() == KafkaStreams.State.ERROR) {
      exitCode = 1;
      System.exit(1);
    }
  }

  /** The settings every peer shares (see README.md), on top of Kafka Streams' defaults. */
  private static Properties config(Path stateDir) {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, env("BENCH_GROUP"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, env("BENCH_BROKERS"));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    props.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 10);
    props.put(StreamsConfig.producerPrefix(ProducerConfig.ACKS_CONFIG), "all");
    props.put(StreamsConfig.producerPrefix(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG), true);
    props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
    props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
    props.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 1048576);
    return props;
  }

  private static boolean isDebug(ObjectNode value) {
    JsonNode level = value.get("level");
    return level != null && level.isTextual() && level.textValue().equals("debug");
  }

  private static ObjectNode read(String topic, byte[] data) {
    if (data == null) return null;
    try {
      if (JSON.readTree(data) instanceof ObjectNode object) return object;
    } catch (IOException e) {
      throw new SerializationException("not a JSON object: " + e.getMessage(), e);
    }
    throw new SerializationException("not a JSON object");
  }

  private static byte[] write(String topic, ObjectNode value) {
    try {
      return JSON.writeValueAsBytes(value);
    } catch (IOException e) {
      throw new SerializationException(e);
    }
  }

  private static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) throw new IllegalStateException(name + " is not set");
    return value;
  }

  private static void deleteTree(Path root) {
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
    } catch (IOException e) {
      // a temp dir left behind is harmless
    }
  }
}
