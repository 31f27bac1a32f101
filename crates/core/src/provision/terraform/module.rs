//! The root module of `infra/`, embedded in the binary as it was built.

/// (path of a module file, its text) for `MODULE`.
macro_rules! module_file {
    ($module:literal, $file:literal) => {
        (
            concat!("modules/", $module, "/", $file),
            include_str!(concat!(
                "../../../../../infra/modules/",
                $module,
                "/",
                $file
            )),
        )
    };
}

/// `infra/` as this binary was built with it: (path in the module, text).
/// A unit test checks that this lists every `.tf` file of `infra/`.
pub const MODULE: &[(&str, &str)] = &[
    ("main.tf", include_str!("../../../../../infra/main.tf")),
    (
        "outputs.tf",
        include_str!("../../../../../infra/outputs.tf"),
    ),
    (
        "variables.tf",
        include_str!("../../../../../infra/variables.tf"),
    ),
    (
        "versions.tf",
        include_str!("../../../../../infra/versions.tf"),
    ),
    module_file!("app_infra", "main.tf"),
    module_file!("app_infra", "outputs.tf"),
    module_file!("app_infra", "variables.tf"),
    module_file!("app_infra", "versions.tf"),
    module_file!("ecs", "main.tf"),
    module_file!("ecs", "outputs.tf"),
    module_file!("ecs", "variables.tf"),
    module_file!("ecs", "versions.tf"),
    module_file!("networking", "main.tf"),
    module_file!("networking", "outputs.tf"),
    module_file!("networking", "variables.tf"),
    module_file!("networking", "versions.tf"),
    module_file!("pipeline", "main.tf"),
    module_file!("pipeline", "outputs.tf"),
    module_file!("pipeline", "variables.tf"),
    module_file!("pipeline", "versions.tf"),
    module_file!("security", "main.tf"),
    module_file!("security", "outputs.tf"),
    module_file!("security", "variables.tf"),
    module_file!("security", "versions.tf"),
];
