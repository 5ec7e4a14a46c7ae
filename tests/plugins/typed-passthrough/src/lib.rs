//! The identity transform over typed WIT records: the alternative that the batch
//! encoding of `wit/plugin.wit` is measured against in `host/benches/boundary.rs`.

wit_bindgen::generate!({ path: "wit", world: "typed" });

struct TypedPassthrough;

impl Guest for TypedPassthrough {
    fn process(batch: Vec<Input>) -> Vec<Outcome> {
        batch
            .into_iter()
            .map(|r| {
                Outcome::Outputs(vec![Output {
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    timestamp: r.timestamp,
                    route: None,
                }])
            })
            .collect()
    }
}

export!(TypedPassthrough);
