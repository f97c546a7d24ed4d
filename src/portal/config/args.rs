//! The command line: `--config FILE`.

use std::path::PathBuf;

use super::error::ConfigError;

/// The path given after `--config` on the command line, if any.
///
/// Accepts `--config FILE` and `--config=FILE`; `args` excludes the program name.
///
/// # Errors
///
/// [`ConfigError::Arguments`] for an unknown argument or a `--config` without a file.
///
/// # Example
///
/// ```
/// use wardgate::portal::config::config_file_from_args;
///
/// let args = ["--config".to_owned(), "gateway.toml".to_owned()];
/// assert_eq!(config_file_from_args(args)?, Some("gateway.toml".into()));
/// assert_eq!(config_file_from_args(Vec::<String>::new())?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn config_file_from_args<I>(args: I) -> Result<Option<PathBuf>, ConfigError>
where
    I: IntoIterator<Item = String>,
{
    let mut args = args.into_iter();
    let mut file = None;
    while let Some(arg) = args.next() {
        let path = if arg == "--config" {
            args.next().ok_or(ConfigError::Arguments {
                problem: ArgumentError::MissingConfigFile,
            })?
        } else if let Some(path) = arg.strip_prefix("--config=") {
            path.to_owned()
        } else {
            return Err(ConfigError::Arguments {
                problem: ArgumentError::Unknown { argument: arg },
            });
        };
        if path.is_empty() {
            return Err(ConfigError::Arguments {
                problem: ArgumentError::MissingConfigFile,
            });
        }
        file = Some(PathBuf::from(path));
    }
    Ok(file)
}

/// What is wrong with the command line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// `--config` without a file.
    #[error("`--config` needs a file: `--config FILE`")]
    MissingConfigFile,
    /// An argument other than `--config`.
    #[error("unknown argument `{argument}`: the only argument is `--config FILE`")]
    Unknown {
        /// The argument.
        argument: String,
    },
}
