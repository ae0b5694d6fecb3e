//! `tenon:delivery@0.1.0`: the `attempts` import alone, its types those of
//! `tenon:connector@0.2.0` (whose `error` it uses).

wasmtime::component::bindgen!({
    path: ["../../wit/0.2.0", "../../wit/delivery/0.1.0"],
    inline: "
        package tenon:host-delivery;

        world attempts-import {
            import tenon:delivery/attempts@0.1.0;
        }
    ",
    with: {
        "tenon:connector/types": super::v0_2::types,
    },
});

pub use tenon::delivery::attempts;
