//! Hadoop configuration XML (`ozone-site.xml`): `<configuration>` holding `<property>`
//! elements, each with a `<name>` and a `<value>`. A later property of the same name wins, as
//! in Hadoop; `--conf KEY=VALUE` overrides come last of all.

use super::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;

/// The raw properties of one configuration, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteConfig {
    properties: BTreeMap<String, String>,
    /// Oddities that did not stop the parse (an element that is not a property, say).
    warnings: Vec<String>,
}

impl SiteConfig {
    /// Parses the XML text of a site file; `origin` names it in errors (usually its path).
    pub fn parse(text: &str, origin: &str) -> Result<SiteConfig, ConfigError> {
        let document = roxmltree::Document::parse(text).map_err(|error| {
            let (line, column, reason) = match error {
                // roxmltree places this one at 1:1; the end of the text is where it is.
                roxmltree::Error::UnclosedRootNode => {
                    let (line, column) = end_position(text);
                    let reason = "the text ends before </configuration> (truncated?)";
                    (line, column, reason.to_string())
                }
                other => (other.pos().row, other.pos().col, other.to_string()),
            };
            ConfigError::Xml {
                origin: origin.to_string(),
                line,
                column,
                reason,
            }
        })?;
        let root = document.root_element();
        if root.tag_name().name() != "configuration" {
            return Err(ConfigError::Xml {
                origin: origin.to_string(),
                line: 1,
                column: 1,
                reason: format!(
                    "the root element is <{}>, not <configuration>",
                    root.tag_name().name()
                ),
            });
        }
        let mut site = SiteConfig::default();
        for element in root.children().filter(|node| node.is_element()) {
            if element.tag_name().name() != "property" {
                let (line, column) = position_of(&document, element);
                site.warnings.push(format!(
                    "{origin}:{line}:{column}: <{}> is not a <property>: ignored",
                    element.tag_name().name()
                ));
                continue;
            }
            let (name, value) = site_property(&document, element, origin)?;
            site.properties.insert(name, value);
        }
        Ok(site)
    }

    /// Reads and parses the site file at `path`.
    pub fn read(path: &Path) -> Result<SiteConfig, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: origin.clone(),
            reason: error.to_string(),
        })?;
        SiteConfig::parse(&text, &origin)
    }

    /// A configuration of the given properties (tests, and programs that build one in code).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> SiteConfig {
        SiteConfig {
            properties: pairs
                .into_iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            warnings: Vec::new(),
        }
    }

    /// Applies one `KEY=VALUE` override (the command line's `--conf`).
    pub fn apply_override(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(ConfigError::Override {
                text: assignment.to_string(),
            });
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(ConfigError::Override {
                text: assignment.to_string(),
            });
        }
        self.properties
            .insert(name.to_string(), value.trim().to_string());
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.properties.insert(name.to_string(), value.to_string());
    }

    /// Every property, in name order.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Line and column (1-based) just after the last character.
fn end_position(text: &str) -> (u32, u32) {
    let line = 1 + text.matches('\n').count();
    let last_line = text.rsplit('\n').next().unwrap_or("");
    (line as u32, 1 + last_line.chars().count() as u32)
}

fn position_of(document: &roxmltree::Document<'_>, node: roxmltree::Node<'_, '_>) -> (u32, u32) {
    let position = document.text_pos_at(node.range().start);
    (position.row, position.col)
}

/// One `<property>`: its trimmed `<name>` (required, non-empty) and `<value>` (may be empty).
fn site_property(
    document: &roxmltree::Document<'_>,
    property: roxmltree::Node<'_, '_>,
    origin: &str,
) -> Result<(String, String), ConfigError> {
    let child_text = |tag: &str| {
        property
            .children()
            .find(|child| child.is_element() && child.tag_name().name() == tag)
            .map(|child| child.text().unwrap_or("").trim().to_string())
    };
    let name = child_text("name").unwrap_or_default();
    if name.is_empty() {
        let (line, column) = position_of(document, property);
        return Err(ConfigError::Xml {
            origin: origin.to_string(),
            line,
            column,
            reason: "a <property> without a <name>".to_string(),
        });
    }
    Ok((name, child_text("value").unwrap_or_default()))
}
