//! The registry of streams: open (recovery), create, update, delete, and the periodic upkeep.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use sm_log::StreamLog;
use sm_model::defaults::StorageSettings;
use sm_model::{validate, MessageStreamDefinition, Persistence};
use tracing::{info, warn};

use crate::clock::{Clock, SystemClock};
use crate::definition;
use crate::faults::Faults;
use crate::fsutil::{self, folder_for, DEFINITION_FILE, TRASH_PREFIX};
use crate::recovery;
use crate::segments::{FileSegments, Segments};
use crate::signal::Signal;
use crate::stream::{State, Stream};
use crate::syncer::Syncer;
use crate::StoreError;

/// How a store is driven: its clock and the storage seam.
#[derive(Clone)]
pub struct Options {
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// Injected failures (tests); [`Faults::none`] otherwise.
    pub faults: Arc<Faults>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            faults: Faults::none(),
        }
    }
}

/// What every stream of a store shares.
pub(crate) struct Context {
    pub(crate) clock: Arc<dyn Clock>,
    /// The sync thread of appends that cannot sync where they were written.
    pub(crate) syncer: Syncer,
    pub(crate) faults: Arc<Faults>,
    /// Notified on appends and definition changes.
    pub(crate) activity: Signal,
}

/// All streams.
pub struct Store {
    root: PathBuf,
    streams: RwLock<BTreeMap<String, Arc<Stream>>>,
    /// Serialises create and delete (folder creation and removal).
    admin: Mutex<()>,
    /// Bumped whenever a stream is created, updated or deleted.
    generation: AtomicU64,
    pub(crate) ctx: Arc<Context>,
    /// Deleted streams' folders whose removal failed, retried on every upkeep.
    pub(crate) pending_trash: Mutex<Vec<PathBuf>>,
}

impl Store {
    /// Opens the store at `root` (created if missing) and recovers every File stream in it,
    /// with the system clock. Never refuses to start over a damaged stream: it is skipped or
    /// repaired with a warning. Fails only when the root cannot be created or listed.
    pub fn open(root: &Path) -> io::Result<Self> {
        Self::open_with(root, Options::default())
    }

    /// [`Self::open`] with a clock and a storage seam.
    pub fn open_with(root: &Path, options: Options) -> io::Result<Self> {
        fs::create_dir_all(root).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create store root {}: {e}", root.display()),
            )
        })?;
        let ctx = Arc::new(Context {
            clock: options.clock,
            syncer: Syncer::default(),
            faults: options.faults,
            activity: Signal::new(),
        });
        let mut folders = Vec::new();
        let mut trash = Vec::new();
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TRASH_PREFIX) {
                if let Err(e) = fs::remove_dir_all(&path) {
                    warn!(folder = %path.display(), "could not finish deleting a stream folder: {e}; will retry");
                    trash.push(path);
                }
                continue;
            }
            if entry.file_type()?.is_dir() {
                folders.push(path);
            }
        }
        let mut streams = BTreeMap::new();
        for (path, loaded) in recovery::load_all(folders, &ctx) {
            match loaded {
                Ok(Some(s)) if streams.contains_key(&s.name) => {
                    warn!(folder = %path.display(), stream = %s.name, "a second folder holds the same stream; ignoring it");
                }
                Ok(Some(s)) => {
                    streams.insert(s.name.clone(), Arc::new(s));
                }
                Ok(None) => {
                    warn!(folder = %path.display(), "folder has no {DEFINITION_FILE}; not a stream, ignoring it")
                }
                Err(e) => {
                    warn!(folder = %path.display(), "could not load stream: {e}; ignoring it")
                }
            }
        }
        info!(root = %root.display(), streams = streams.len(), "store opened");
        Ok(Self {
            root: root.to_owned(),
            streams: RwLock::new(streams),
            admin: Mutex::new(()),
            generation: AtomicU64::new(1),
            ctx,
            pending_trash: Mutex::new(trash),
        })
    }

    /// The store's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Changes whenever a stream is created, updated or deleted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Notified on appends and definition changes (what an export manager waits on).
    pub fn activity(&self) -> &Signal {
        &self.ctx.activity
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.ctx.activity.notify();
    }

    fn read_streams(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Stream>>> {
        self.streams.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every stream.
    pub fn streams(&self) -> Vec<Arc<Stream>> {
        self.read_streams().values().cloned().collect()
    }

    /// The stream called `name`.
    pub fn get(&self, name: &str) -> Result<Arc<Stream>, StoreError> {
        self.read_streams()
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))
    }

    /// Names of all streams, sorted.
    pub fn list(&self) -> Vec<String> {
        self.read_streams().keys().cloned().collect()
    }

    /// Creates a stream (its definition is validated first: `sm_model::validate::definition`).
    pub fn create(&self, def: MessageStreamDefinition) -> Result<(), StoreError> {
        validate::definition(&def)?;
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        if self.get(&def.name).is_ok() {
            return Err(StoreError::AlreadyExists(def.name));
        }
        let settings = definition::log_settings(&def);
        let (dir, segments) = match StorageSettings::of(&def).persistence {
            Persistence::Memory => (None, Segments::Memory(Default::default())),
            Persistence::File => {
                let dir = folder_for(&self.root, &def.name);
                let made = fs::create_dir(&dir)
                    .and_then(|()| definition::save(&dir, &def))
                    .and_then(|()| fsutil::sync_dir(&self.root));
                if let Err(e) = made {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(StoreError::io("creation", &def.name, e));
                }
                let mut files = FileSegments::empty(&dir, self.ctx.faults.clone());
                files.configure(&StorageSettings::of(&def));
                (Some(dir), Segments::File(files))
            }
        };
        let name = def.name.clone();
        let state = State {
            def,
            log: StreamLog::new(settings, 0),
            segments,
            deleted: false,
        };
        let stream = Stream::new(name.clone(), dir, state, BTreeMap::new(), self.ctx.clone());
        self.streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone(), Arc::new(stream));
        self.changed();
        info!(stream = %name, "stream created");
        Ok(())
    }

    /// Replaces a stream's definition (validated, as for [`Self::create`]), under the update
    /// rules (`sm_model::update::check_update`).
    pub fn update(&self, def: MessageStreamDefinition) -> Result<(), StoreError> {
        validate::definition(&def)?;
        let s = self.get(&def.name)?;
        s.update(def)?;
        self.changed();
        info!(stream = %s.name, "stream updated");
        Ok(())
    }

    /// Deletes a stream and its data.
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let s = self
            .streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        {
            let mut st = s.lock();
            st.deleted = true;
            st.segments.close();
        }
        s.changes.notify();
        self.changed();
        if let Some(dir) = &s.dir {
            // Rename first so that a crash mid-removal never leaves a half-deleted stream
            // that would come back at start-up.
            let leaf = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let trash = self.root.join(format!("{TRASH_PREFIX}{leaf}"));
            match fs::rename(dir, &trash).and_then(|()| fsutil::sync_dir(&self.root)) {
                Ok(()) => self.remove_trash(trash),
                Err(e) => warn!(stream = %name, "removing the stream's files failed: {e}"),
            }
        }
        info!(stream = %name, "stream deleted");
        Ok(())
    }

    /// The periodic upkeep (every few seconds): TTL retention of every stream at `now_ms`,
    /// retried removals, tail checkpoints.
    pub fn expire_all(&self, now_ms: i64) {
        for s in self.streams() {
            s.expire(now_ms);
        }
        self.upkeep();
    }

    /// Fsyncs every File stream and writes its tail checkpoint (a clean shutdown).
    pub fn sync_all(&self) {
        for s in self.read_streams().values() {
            if let Err(e) = s.sync_all() {
                warn!(stream = %s.name, "fsync at shutdown failed: {e}");
            }
        }
    }
}
