//! Logging for the daemons: SPIRE's `log_level`, `log_format` and `log_file` settings on
//! `tracing-subscriber`, with a handle that changes the level at run time (the Logger
//! API's `SetLogLevel`/`ResetLogLevel`).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Deserializer};
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// A log level as SPIRE spells it (`DEBUG`, `INFO`, `WARN`, `ERROR`; any case).
///
/// logrus's `panic` and `fatal` are accepted and mean `ERROR`; `warning` means `WARN`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Everything, including per-request detail.
    Trace,
    /// Diagnostics.
    Debug,
    /// Lifecycle events (the default).
    #[default]
    Info,
    /// Problems that were handled.
    Warn,
    /// Failures.
    Error,
}

/// The level string was not one of the known names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {0:?} (use DEBUG, INFO, WARN or ERROR)")]
pub struct UnknownLogLevel(pub String);

impl LogLevel {
    /// The upper-case name SPIRE prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
        }
    }

    fn filter_directive(self) -> String {
        let level = self.as_str().to_ascii_lowercase();
        // Transport crates log every frame at debug; keep them quiet unless tracing.
        let noisy = if self == Self::Trace { "trace" } else { "warn" };
        format!("{level},h2={noisy},hyper={noisy},hyper_util={noisy},tower={noisy},rustls={noisy}")
    }
}

impl FromStr for LogLevel {
    type Err = UnknownLogLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Ok(Self::Trace),
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" | "warning" => Ok(Self::Warn),
            "error" | "fatal" | "panic" => Ok(Self::Error),
            _ => Err(UnknownLogLevel(s.to_owned())),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How log lines are written (`text` or `json`; any case).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The format string was neither `text` nor `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?} (use text or json)")]
pub struct UnknownLogFormat(pub String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UnknownLogFormat(s.to_owned())),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The logging part of a daemon's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// The level at launch.
    pub level: LogLevel,
    /// Text or JSON lines.
    pub format: LogFormat,
    /// Append to this file instead of writing to stderr.
    pub file: Option<PathBuf>,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// The log file could not be opened for appending.
    #[error("cannot open log file {}", path.display())]
    OpenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A global subscriber was already installed in this process.
    #[error("logging is already initialised")]
    AlreadyInitialized,
    /// The level could not be changed because the subscriber is gone.
    #[error("cannot change the log level")]
    Reload(#[source] reload::Error),
}

/// Changes the level of a running logger.
#[derive(Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    launch_level: LogLevel,
    current: Arc<Mutex<LogLevel>>,
}

impl fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogHandle")
            .field("launch_level", &self.launch_level)
            .field("current", &self.level())
            .finish()
    }
}

impl LogHandle {
    /// The level in force now.
    pub fn level(&self) -> LogLevel {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The level the daemon was launched with.
    pub fn launch_level(&self) -> LogLevel {
        self.launch_level
    }

    /// Changes the level until the next change or reset.
    pub fn set_level(&self, level: LogLevel) -> Result<(), LoggingError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        self.filter
            .reload(EnvFilter::new(level.filter_directive()))
            .map_err(LoggingError::Reload)?;
        *current = level;
        Ok(())
    }

    /// Goes back to the launch level.
    pub fn reset_level(&self) -> Result<(), LoggingError> {
        self.set_level(self.launch_level)
    }
}

/// Builds a subscriber for `settings` without installing it.
pub fn build_subscriber(
    settings: &LogSettings,
) -> Result<(impl Subscriber + Send + Sync + 'static, LogHandle), LoggingError> {
    let (filter, filter_handle) =
        reload::Layer::new(EnvFilter::new(settings.level.filter_directive()));
    let output = output_layer(settings)?;
    let subscriber = Registry::default().with(filter).with(output);

    let handle = LogHandle {
        filter: filter_handle,
        launch_level: settings.level,
        current: Arc::new(Mutex::new(settings.level)),
    };
    Ok((subscriber, handle))
}

/// Installs the process-wide logger described by `settings`.
pub fn init_logging(settings: &LogSettings) -> Result<LogHandle, LoggingError> {
    let (subscriber, handle) = build_subscriber(settings)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| LoggingError::AlreadyInitialized)?;
    Ok(handle)
}

type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

fn output_layer<S>(settings: &LogSettings) -> Result<BoxedLayer<S>, LoggingError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let layer = tracing_subscriber::fmt::layer().with_ansi(false);
    let Some(path) = &settings.file else {
        return Ok(match settings.format {
            LogFormat::Text => layer.with_writer(std::io::stderr).boxed(),
            LogFormat::Json => layer.json().with_writer(std::io::stderr).boxed(),
        });
    };

    let file = open_log_file(path)?;
    Ok(match settings.format {
        LogFormat::Text => layer.with_writer(file).boxed(),
        LogFormat::Json => layer.json().with_writer(file).boxed(),
    })
}

fn open_log_file(path: &PathBuf) -> Result<Arc<File>, LoggingError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Arc::new)
        .map_err(|source| LoggingError::OpenFile {
            path: path.clone(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_like_spire() {
        assert_eq!("DEBUG".parse(), Ok(LogLevel::Debug));
        assert_eq!("info".parse(), Ok(LogLevel::Info));
        assert_eq!("Warning".parse(), Ok(LogLevel::Warn));
        assert_eq!("fatal".parse(), Ok(LogLevel::Error));
        assert!("loud".parse::<LogLevel>().is_err());
        assert_eq!(LogLevel::Warn.to_string(), "WARN");
    }

    #[test]
    fn formats_parse() {
        assert_eq!("JSON".parse(), Ok(LogFormat::Json));
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    fn log_to_file(format: LogFormat) -> (tempfile::TempDir, PathBuf, LogSettings) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.log");
        let settings = LogSettings {
            level: LogLevel::Info,
            format,
            file: Some(path.clone()),
        };
        (dir, path, settings)
    }

    #[test]
    fn level_changes_at_run_time_and_resets() {
        let (_dir, path, settings) = log_to_file(LogFormat::Text);
        let (subscriber, handle) = build_subscriber(&settings).expect("builds");

        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("hidden at launch");
            tracing::info!("shown at launch");

            handle.set_level(LogLevel::Debug).expect("set");
            assert_eq!(handle.level(), LogLevel::Debug);
            tracing::debug!("shown after set");

            handle.reset_level().expect("reset");
            assert_eq!(handle.level(), LogLevel::Info);
            tracing::debug!("hidden after reset");
        });

        let text = std::fs::read_to_string(&path).expect("log written");
        assert!(text.contains("shown at launch"), "{text}");
        assert!(text.contains("shown after set"), "{text}");
        assert!(!text.contains("hidden"), "{text}");
        assert_eq!(handle.launch_level(), LogLevel::Info);
    }

    #[test]
    fn json_format_writes_json_lines() {
        let (_dir, path, settings) = log_to_file(LogFormat::Json);
        let (subscriber, _handle) = build_subscriber(&settings).expect("builds");

        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(spiffe_id = "spiffe://td/w", "entry created");
        });

        let text = std::fs::read_to_string(&path).expect("log written");
        let line: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("one line")).expect("json");
        assert_eq!(line["fields"]["message"], "entry created");
        assert_eq!(line["fields"]["spiffe_id"], "spiffe://td/w");
        assert_eq!(line["level"], "INFO");
    }

    #[test]
    fn unwritable_log_file_is_an_error() {
        let settings = LogSettings {
            file: Some(PathBuf::from("/nonexistent-dir/for/sure/daemon.log")),
            ..LogSettings::default()
        };
        assert!(matches!(
            build_subscriber(&settings),
            Err(LoggingError::OpenFile { .. })
        ));
    }
}
