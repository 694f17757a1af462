//! The handlebars templates of the site: embedded defaults from `templates/`, or a user's own
//! copy with `--templates DIR`. Strict mode, so a misspelt field fails a test instead of
//! rendering as nothing; HTML escaping on, so nothing from outside becomes markup.

use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;

/// Every template, by name, with its embedded default.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("../../templates/layout.hbs")),
    ("dashboard", include_str!("../../templates/dashboard.hbs")),
    ("jobs", include_str!("../../templates/jobs.hbs")),
    ("job", include_str!("../../templates/job.hbs")),
    ("run", include_str!("../../templates/run.hbs")),
    ("registry", include_str!("../../templates/registry.hbs")),
    ("cards", include_str!("../../templates/cards.hbs")),
    (
        "deployments",
        include_str!("../../templates/deployments.hbs"),
    ),
    ("feed", include_str!("../../templates/feed.hbs")),
];

/// The stylesheet, copied as it is.
pub const STYLE: &str = include_str!("../../templates/style.css");

/// Why the templates cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "cannot read template {path}: {source} (a --templates folder needs every one of: {names})"
    )]
    Read {
        path: PathBuf,
        names: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: Box<handlebars::TemplateError>,
    },
    #[error("rendering {name}: {source}")]
    Render {
        name: String,
        #[source]
        source: Box<handlebars::RenderError>,
    },
}

/// HTML-escapes `text` and drops what XML 1.0 forbids (a `\x01` in a commit message), so the
/// same text is valid in the pages, the SVG charts and the Atom feed.
pub fn escape(text: &str) -> String {
    handlebars::html_escape(&crate::display::xml_safe(text))
}

/// The compiled templates and the stylesheet.
pub struct Renderer {
    registry: Handlebars<'static>,
    style: String,
}

impl Renderer {
    /// The embedded templates, or those in `dir` (`<name>.hbs` each, plus `style.css`).
    pub fn new(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(escape);
        let names = || {
            TEMPLATES
                .iter()
                .map(|(name, _)| format!("{name}.hbs"))
                .chain(["style.css".to_string()])
                .collect::<Vec<_>>()
                .join(", ")
        };
        let read = |file: String| -> Result<String, RenderError> {
            let Some(dir) = dir else {
                return Ok(String::new());
            };
            let path = dir.join(&file);
            std::fs::read_to_string(&path).map_err(|source| RenderError::Read {
                path,
                names: names(),
                source,
            })
        };
        for (name, embedded) in TEMPLATES {
            let text = match dir {
                Some(_) => read(format!("{name}.hbs"))?,
                None => (*embedded).to_string(),
            };
            registry
                .register_template_string(name, text)
                .map_err(|source| RenderError::Template {
                    name: (*name).to_string(),
                    source: Box::new(source),
                })?;
        }
        let style = match dir {
            Some(_) => read("style.css".to_string())?,
            None => STYLE.to_string(),
        };
        Ok(Renderer { registry, style })
    }

    /// Renders template `name` with `data`.
    pub fn render(&self, name: &str, data: &impl Serialize) -> Result<String, RenderError> {
        self.registry
            .render(name, data)
            .map_err(|source| RenderError::Render {
                name: name.to_string(),
                source: Box::new(source),
            })
    }

    pub fn style(&self) -> &str {
        &self.style
    }
}
