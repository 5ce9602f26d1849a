//! `uniffi-bindgen`: generates the Kotlin and Swift bindings from the built
//! library (`generate --library target/.../libmynakit.so`). Built only with the
//! `cli` feature.

fn main() {
    uniffi::uniffi_bindgen_main()
}
