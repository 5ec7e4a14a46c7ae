//! The config loader's tests: what loads, and what each wrong config is told.

use super::*;

pub(crate) const VALID: &str = r#"
[host]
plugins_dir = "plugins"
plugin_limits = { memory = "32 MiB", batch_timeout = "2s" }

[sources.gen]
type = "generator"
count = 10
rate = 100.0

[sinks.good]
type = "file"
path = "out/good.jsonl"

[sinks.dlq]
type = "file"
path = "/var/dlq.jsonl"

[pipelines.main]
source = "gen"
plugins = [
{ name = "json-validate" },
{ name = "router", config = { field = "level", map = { error = "errors" } } },
]
routes = { all = ["good"], errors = ["good", "dlq"] }
default_route = "all"
dead_letter = "dlq"
batch_size = 100
batch_wait = "50ms"
"#;

pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/sluice/sluice.toml"), text, |_| None)
}

pub(crate) fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn parses_a_full_config_and_resolves_paths_against_its_folder() {
    let config = parse(VALID).unwrap();
    assert_eq!(config.host.plugins_dir, Path::new("/etc/sluice/plugins"));
    assert_eq!(config.host.plugin_limits.memory, ByteSize::mib(32));
    assert_eq!(config.host.plugin_limits.batch_timeout, Duration::from_secs(2));
    let SinkConfig::File { path, format } = &config.sinks["good"] else { panic!() };
    assert_eq!(path, Path::new("/etc/sluice/out/good.jsonl"));
    assert_eq!(*format, LineFormat::Envelope);
    let SinkConfig::File { path, .. } = &config.sinks["dlq"] else { panic!() };
    assert_eq!(path, Path::new("/var/dlq.jsonl"), "absolute paths stay");
    let p = &config.pipelines["main"];
    assert_eq!((p.batch_size, p.batch_wait), (100, Duration::from_millis(50)));
    assert_eq!(
        flatten_plugin_config(&p.plugins[1].config).unwrap(),
        [("field".into(), "level".into()), ("map.error".into(), "errors".into())]
    );
}

#[test]
fn an_unknown_key_is_named_with_its_path_and_line() {
    let err = error_of(&VALID.replace("batch_size = 100", "batch_sise = 100"));
    assert!(err.starts_with("/etc/sluice/sluice.toml: pipelines.main.batch_sise (line 28, column 1): "), "{err}");
    assert!(err.contains("unknown field `batch_sise`"), "{err}");
}

#[test]
fn a_wrong_type_is_named_with_its_path() {
    let err = error_of(&VALID.replace("batch_size = 100", "batch_size = \"many\""));
    assert!(err.starts_with("/etc/sluice/sluice.toml: pipelines.main.batch_size (line 28, column 14): "), "{err}");
    assert!(err.contains("expected usize"), "{err}");
}

#[test]
fn an_unknown_connector_type_lists_the_known_ones() {
    let err = error_of(&VALID.replace("type = \"generator\"", "type = \"kafak\""));
    assert!(err.contains("sources.gen"), "{err}");
    assert!(err.contains("unknown variant `kafak`, expected one of `file`, `stdin`, `kafka`, `generator`"), "{err}");
}

#[test]
fn an_unknown_field_inside_a_connector_is_refused() {
    let err = error_of(&VALID.replace("rate = 100.0", "rat = 100.0"));
    assert!(err.contains("unknown field `rat`"), "{err}");
}

#[test]
fn dangling_references_name_the_key_and_the_candidates() {
    let err = error_of(&VALID.replace("errors = [\"good\", \"dlq\"]", "errors = [\"good\", \"dql\"]"));
    assert_eq!(
        err,
        "/etc/sluice/sluice.toml: pipelines.main.routes.errors[1]: no sink is named `dql` (sinks: `dlq`, `good`)"
    );
    let err = error_of(&VALID.replace("source = \"gen\"", "source = \"nope\""));
    assert_eq!(err, "/etc/sluice/sluice.toml: pipelines.main.source: no source is named `nope` (sources: `gen`)");
    let err = error_of(&VALID.replace("default_route = \"all\"", "default_route = \"most\""));
    assert_eq!(
        err,
        "/etc/sluice/sluice.toml: pipelines.main.default_route: no route is named `most` (routes: `all`, `errors`)"
    );
}

#[test]
fn out_of_range_values_are_refused() {
    let err = error_of(&VALID.replace("batch_size = 100", "batch_size = 0"));
    assert_eq!(err, "/etc/sluice/sluice.toml: pipelines.main.batch_size: must be between 1 and 100000");
    let err = error_of(&VALID.replace("batch_timeout = \"2s\"", "batch_timeout = \"0s\""));
    assert_eq!(err, "/etc/sluice/sluice.toml: host.plugin_limits.batch_timeout: must be longer than zero");
    let err = error_of(&VALID.replace("[host]\n", "[host]\nplugin_compile = { memory = \"100 MiB\" }\n"));
    assert_eq!(err, "/etc/sluice/sluice.toml: host.plugin_compile.memory: must be at least 256 MiB");
    let err = error_of(&VALID.replace("rate = 100.0", "rate = -1.0"));
    assert_eq!(err, "/etc/sluice/sluice.toml: sources.gen.rate: must be a positive number of records per second");
    let err = error_of(&VALID.replace("{ name = \"json-validate\" }", "{ name = \"../x\" }"));
    assert!(err.starts_with("/etc/sluice/sluice.toml: pipelines.main.plugins[0].name: "), "{err}");
    let err = error_of(&VALID.replace("map = { error = \"errors\" }", "map = [{ a = 1 }]"));
    assert!(err.starts_with("/etc/sluice/sluice.toml: pipelines.main.plugins[1].config.map: arrays"), "{err}");
}

#[test]
fn syntax_errors_give_the_line() {
    let err = error_of("[pipelines.x\nsource = 1");
    assert!(err.starts_with("/etc/sluice/sluice.toml: line 1, column "), "{err}");
}

#[test]
fn a_config_without_pipelines_is_refused() {
    assert_eq!(error_of(""), "/etc/sluice/sluice.toml: pipelines: no pipeline is defined: there is nothing to run");
}

#[test]
fn environment_variables_are_interpolated() {
    let text = VALID.replace("count = 10", "count = ${COUNT}");
    let config = Config::parse(Path::new("s.toml"), &text, |n| (n == "COUNT").then(|| "7".into())).unwrap();
    assert!(matches!(config.sources["gen"], SourceConfig::Generator { count: Some(7), .. }));
    let err = error_of(&text);
    assert_eq!(err, "/etc/sluice/sluice.toml: line 8: environment variable `COUNT` is not set");
}
