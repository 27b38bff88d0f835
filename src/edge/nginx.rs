//! `eprgen routes nginx`: an nginx server block (from the `nginx.conf.j2` template) and the njs
//! module it imports (router.js + compose.js + nginx.js).
//!
//! The module is the same for every tree; the server block names the tree, the build it was
//! made for (whose route table and manifest nginx preloads) and where the module lives.

use std::path::{Path, PathBuf};

use super::{Built, COMPOSE_JS, NGINX_JS, ROUTER_JS};
use crate::error::{Error, Result};

const TEMPLATE: &str = include_str!("nginx.conf.j2");

/// What `eprgen routes nginx` makes.
#[derive(Debug, Clone)]
pub struct Nginx {
    /// The `server { … }` block.
    pub conf: String,
    /// The njs module, to be written where `conf` imports it from.
    pub module: String,
}

/// The njs module: the router and its nginx adapter, as one ES module.
pub fn module() -> String {
    format!("{ROUTER_JS}\n{COMPOSE_JS}\n{NGINX_JS}")
}

/// Paths and addresses go into the configuration inside double quotes or bare: refuse what
/// would need escaping there (nginx would read `$` as a variable, `;` and braces as syntax).
fn plain(what: &str, s: &str) -> Result<()> {
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"'\\$;{}#".contains(c))
    {
        return Err(Error::Usage(format!(
            "{what} {s:?} cannot be written into an nginx configuration (no spaces, quotes, `$`, `;`, `#` or braces)"
        )));
    }
    Ok(())
}

/// Render the server block for the tree at `root`, listening on `listen`, importing the module
/// from `js` (an absolute path).
pub fn render(root: &Path, listen: &str, js: &Path) -> Result<Nginx> {
    let built = Built::load(root)?;
    let show = |p: &PathBuf| p.display().to_string();
    let (root_s, build_s, js_s) = (show(&built.root), show(&built.dir), show(&js.to_path_buf()));
    plain("root", &root_s)?;
    plain("build folder", &build_s)?;
    plain("module path", &js_s)?;
    plain("listen address", listen)?;
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_template("nginx.conf", TEMPLATE)
        .expect("the nginx template parses");
    let conf = env
        .get_template("nginx.conf")
        .expect("template added")
        .render(minijinja::context! {
            version => env!("CARGO_PKG_VERSION"),
            root => root_s,
            build => build_s,
            build_id => built.build_id,
            listen => listen,
            js => js_s,
            // A tree without composed answers preloads its route table in the index's place.
            index => built
                .routes
                .composed
                .as_ref()
                .map_or(crate::plan::routes::ROUTES, |c| c.index.as_str()),
        })
        .map_err(|e| Error::Usage(format!("cannot render the nginx configuration: {e}")))?;
    Ok(Nginx {
        conf,
        module: module(),
    })
}
