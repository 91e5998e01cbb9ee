//! The administrative tree of Civitas tenants.
//!
//! A tenant is a node of the administrative tree — levels come from
//! `tenants/levels.toml` (province, city, district, street, community, and
//! non-geographic unit nodes such as a street's service centre) — named by its [`TenantPath`] of division codes
//! (`310000/310115/310115005`) and by a readable slug path
//! (`shanghai/pudong/lujiazui`). The tree is configuration as code: one TOML
//! file per node under `tenants/`, plus `tenants/lines.toml` naming the lines
//! of business. [`TenantTree::load`] reads and validates such a directory and
//! reports *every* problem with its file and line, so an operator can fix a
//! broken tree in one pass.
//!
//! Nothing here assumes a fixed depth or set of levels: Shanghai is city →
//! district → street → community, Sichuan is province → city → county →
//! township, and a unit node may sit under any level that allows it.
//!
//! ```
//! use civitas_tenancy::{Source, TenantTree};
//!
//! let tree = TenantTree::from_sources(vec![
//!     Source::new("lines.toml", "[[line]]\ncode = \"civil-affairs\"\nname = \"民政\"\nname_en = \"Civil affairs\"\n"),
//!     Source::new("shanghai.toml", "code = \"310000\"\nlevel = \"city\"\nname = \"上海市\"\nname_en = \"Shanghai\"\nslug = \"shanghai\"\n"),
//!     Source::new("pudong.toml", "code = \"310115\"\nlevel = \"district\"\nparent = \"310000\"\nname = \"浦东新区\"\nname_en = \"Pudong\"\nslug = \"pudong\"\nlines = [\"civil-affairs\"]\n"),
//! ])
//! .unwrap();
//! let pudong = tree.resolve("shanghai/pudong").unwrap();
//! assert_eq!(pudong.path.as_str(), "310000/310115");
//! assert_eq!(tree.resolve("310000/310115").unwrap().slug_path, "shanghai/pudong");
//! ```

mod code;
mod error;
mod level;
mod live;
mod load;
mod prefix;
mod tree;

pub use code::{DivisionCode, Level, TenantPath, TenantPathError};
pub use error::{ConfigError, ConfigErrorKind, ConfigErrors};
pub use level::{CodeScheme, LEVELS_FILE, LevelDef, standard_levels};
pub use live::{OverriddenSetting, SharedTree};
pub use load::{LINES_FILE, Source};
pub use prefix::{TenantPrefix, split_tenant_prefix};
pub use tree::{Line, RESERVED_SLUGS, Tenant, TenantTree};

/// A grant's or key's line that covers every line.
pub const ALL_LINES: &str = "*";

/// Whether `line` may name a line in a grant or key: a line code
/// (`civil-affairs`: lowercase letters, digits, dashes, at most 64) or
/// [`ALL_LINES`]. `-` (no line) is for requests, never for grants.
pub fn valid_grant_line(line: &str) -> bool {
    line == ALL_LINES
        || (!line.is_empty()
            && line != "-"
            && line.len() <= 64
            && line
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
}
