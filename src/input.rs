//! Bounded reads of everything the hook is handed: the OCI state on stdin,
//! config.json and policy files. A FIFO, a device or an endless file must not
//! hang or exhaust the hook that sits on every container start.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};

/// Largest OCI state accepted on stdin (annotations included).
pub const STATE_LIMIT: u64 = 4 << 20;
/// Largest config.json accepted.
pub const CONFIG_LIMIT: u64 = 16 << 20;
/// Largest policy or configuration file accepted.
pub const POLICY_LIMIT: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error(
        "{path} is {why}: refusing it, as anyone who can write it could change the policy (chown root, chmod go-w)"
    )]
    Untrusted { path: String, why: String },
    #[error(
        "{dir} is {why}: refusing {path} below it, as anyone who can write in {dir} could put another policy in its place (chown root {dir}, chmod go-w {dir})"
    )]
    UntrustedDir {
        dir: String,
        path: String,
        why: String,
    },
    #[error(
        "{path} is {why}: refusing the container, as whoever can change its bundle could have the hook judge another config.json than the runtime's (chown root, chmod go-w)"
    )]
    UntrustedBundle { path: String, why: String },
}

impl InputError {
    /// What went wrong without the path, for messages that name it already.
    pub fn reason(&self) -> String {
        match self {
            InputError::Io { source, .. } => format!("cannot read it: {source}"),
            InputError::NotAFile { .. } => "not a regular file".into(),
            InputError::NotADirectory { .. } => "not a directory".into(),
            InputError::TooLarge { limit, .. } => format!("larger than {limit} bytes"),
            InputError::Untrusted { why, .. } => {
                format!(
                    "{why}: refusing it, as anyone who can write it could change the policy (chown root, chmod go-w)"
                )
            }
            InputError::UntrustedDir { dir, why, .. } => format!(
                "{dir}, a directory above it, is {why}: refusing it, as anyone who can write in {dir} could put another policy in its place (chown root {dir}, chmod go-w {dir})"
            ),
            InputError::UntrustedBundle { .. } => self.to_string(),
        }
    }
}

/// Read a regular file of at most `limit` bytes. The file is opened
/// non-blocking so a FIFO cannot stall the open, then checked to be regular.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let shown = path.display().to_string();
    let io = |source| InputError::Io {
        path: shown.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(InputError::NotAFile { path: shown });
    }
    if meta.len() > limit {
        return Err(InputError::TooLarge { path: shown, limit });
    }
    // Sized up front: one allocation, no regrowth copies.
    let expected = usize::try_from(meta.len()).unwrap_or(0);
    read_into(Vec::with_capacity(expected), file, limit, &shown)
}

/// Read a policy or configuration file, trusted the way sudo trusts sudoers:
/// refused unless it and every directory from `/` down to it could be
/// changed by no one but root or the hook's user. See [`read_trusted_real`].
pub fn read_trusted(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    read_trusted_real(path, limit).map(|(text, _)| text)
}

/// Read a policy or configuration file as [`read_trusted`] does, and return
/// where its symbolic links led (the installed set's directory behind
/// `current`).
///
/// The path is walked from `/` one component at a time, each directory
/// opened (`O_PATH`, never following a link) relative to the one before and
/// judged by the `fstat` of what was opened: owned by root or the hook's
/// user, writable by neither group nor others unless sticky (`/tmp`, where
/// no one can replace what they do not own, and what is below is judged in
/// turn). A symbolic link on the way is read once per resolution (see
/// [`one_resolution`]) and its target walked the same way; the links of
/// `/proc` (`/proc/self`, an open file's `/proc/self/fd/N`) are the
/// kernel's, followed by it, and what they lead to judged. The file is then
/// opened relative to its judged directory, never following a link, and
/// judged by the `fstat` of the open file: a regular file, owned by root or
/// the hook's user, writable by neither group nor others. What is read is
/// that open file, so there is no moment between judging a file and opening
/// it in which another could take its place.
pub fn read_trusted_real(path: &Path, limit: u64) -> Result<(Vec<u8>, PathBuf), InputError> {
    one_resolution(|| in_resolution(|r| r.read(path, limit)))
}

/// Where `path` leads, every link followed, as `realpath` says: the
/// kernel's name of the file opened (`O_PATH`) in three system calls
/// whatever the depth, where libc's `realpath` (so std's `canonicalize`)
/// reads a link at each component and, in musl, starts its own allocator.
/// A magic link of `/proc` on the way (`/proc/self/cwd`, `/proc/<pid>/root`,
/// `/dev/fd/N`) names a file of whichever process follows it, the runtime's
/// when it runs the container, so it leads nowhere here (`ELOOP`; a kernel
/// before 5.6, without `openat2`, follows it). std's `canonicalize` when
/// `/proc` cannot tell the name.
pub fn real_path(path: &Path) -> std::io::Result<PathBuf> {
    use nix::fcntl::{OpenHow, ResolveFlag, openat2};
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(nix::fcntl::AT_FDCWD, path, how) {
        Err(Errno::ENOSYS) => openat(
            nix::fcntl::AT_FDCWD,
            path,
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?,
        fd => fd?,
    };
    name_of(fd).or_else(|()| path.canonicalize())
}

/// The kernel's name of what `fd` holds open (`Err`: `/proc` cannot tell).
fn name_of(fd: OwnedFd) -> Result<PathBuf, ()> {
    match nix::fcntl::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str()) {
        Ok(real) if real.as_bytes().starts_with(b"/") => Ok(PathBuf::from(real)),
        _ => Err(()),
    }
}

/// Where the links of `path` lead, and the `fstat` of what is there (a
/// regular file or a directory), judged as [`read_trusted`] judges it, in
/// the current resolution, without opening it to read.
pub fn trusted_stat(path: &Path) -> Result<(PathBuf, FileStat), InputError> {
    one_resolution(|| {
        in_resolution(|r| {
            let walked = r.walk(path, Last::Stat)?;
            Ok((walked.real, walked.stat))
        })
    })
}

/// The entries of a trusted directory (judged with every directory above
/// it, as [`read_trusted`] judges them), listed from the directory opened:
/// where its links led, and each entry's name and whether it is a symbolic
/// link. Recorded for the cache like a file read.
pub fn list_trusted_dir(path: &Path) -> Result<(PathBuf, Vec<(OsString, bool)>), InputError> {
    one_resolution(|| in_resolution(|r| r.list(path)))
}

/// A file or directory read as trusted: the path as named, where its links
/// led, and the `fstat` of what was opened, taken before it was read.
#[derive(Clone)]
pub struct Opened {
    pub path: PathBuf,
    pub real: PathBuf,
    pub stat: FileStat,
}

/// Run `f` with every symbolic link on the way to a trusted file read at
/// most once: the installed set's `current` link (and any other) is read the
/// first time a path passes it and taken as read for every other path until
/// `f` returns, so a configuration and its policies come from one set even
/// while an installer swaps `current`. Nested calls share the outer
/// resolution. The directories judged stay open for the same time and later
/// paths are opened relative to them.
pub fn one_resolution<T>(f: impl FnOnce() -> T) -> T {
    if RESOLUTION.with(|r| r.borrow().is_some()) {
        return f();
    }
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            let ended = RESOLUTION.with(|r| r.borrow_mut().take());
            drop(ended.map(ManuallyDrop::into_inner));
        }
    }
    RESOLUTION.with(|r| *r.borrow_mut() = Some(ManuallyDrop::new(Resolution::default())));
    let _end = End;
    f()
}

/// Run `f` in one resolution (joining the current one), and return what it
/// read as trusted, each with the `fstat` of what was read; `None` when a
/// file or directory changed while it was read (what was read is then not
/// to be cached).
pub fn recording<T>(f: impl FnOnce() -> T) -> (T, Option<Vec<Opened>>) {
    one_resolution(|| {
        let (mark, changed) = in_resolution(|r| (r.opened.len(), std::mem::take(&mut r.changed)));
        let value = f();
        let opened = in_resolution(|r| {
            let opened = r.opened.split_off(mark.min(r.opened.len()));
            let stable = !r.changed;
            r.changed |= changed;
            stable.then_some(opened)
        });
        (value, opened)
    })
}

thread_local! {
    /// Without drop glue (the resolution is dropped where it ends, in
    /// [`one_resolution`]): a thread-local with drop glue registers a
    /// destructor on first use, which costs pthread key calls on every start.
    static RESOLUTION: RefCell<Option<ManuallyDrop<Resolution>>> = const { RefCell::new(None) };
}

/// Run `f` on the current resolution (callers are inside [`one_resolution`]).
fn in_resolution<R>(f: impl FnOnce(&mut Resolution) -> R) -> R {
    RESOLUTION.with(|cell| match cell.borrow_mut().as_mut() {
        Some(r) => f(r),
        None => f(&mut Resolution::default()),
    })
}

/// Links taken as read, directories judged and open, files read.
#[derive(Default)]
struct Resolution {
    /// Each symbolic link read, by its place (its directory resolved).
    links: BTreeMap<PathBuf, OsString>,
    /// Directories judged trusted, open (`O_PATH`), by their place.
    dirs: BTreeMap<PathBuf, OwnedFd>,
    /// Directories judged trusted by their `lstat` alone (see
    /// [`Resolution::walk_clean`]): a few, compared as bytes.
    judged: Vec<PathBuf>,
    /// Directories judged by their `lstat` and held open (see
    /// [`Resolution::hold`]): a few, compared as bytes.
    held: Vec<(PathBuf, OwnedFd)>,
    opened: Vec<Opened>,
    /// A file or directory changed while it was read.
    changed: bool,
}

/// What the last component of a walk is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// A regular file, opened to be read.
    Read,
    /// A regular file or a directory, only looked at.
    Stat,
    /// A directory, kept open to be listed.
    Dir,
}

struct Walked {
    real: PathBuf,
    stat: FileStat,
    /// The file opened (`Last::Read`).
    file: Option<std::fs::File>,
}

/// How a trusted file is opened to be read: never through a link, never
/// blocking on a FIFO, never becoming the controlling terminal.
const READ_TRUSTED: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_NOCTTY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// The most symbolic links one path may pass (as the kernel's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

impl Resolution {
    fn read(&mut self, path: &Path, limit: u64) -> Result<(Vec<u8>, PathBuf), InputError> {
        let shown = path.display().to_string();
        let walked = self.walk(path, Last::Read)?;
        #[cfg(test)]
        test_hook::run(test_hook::Moment::AfterOpen, path);
        let Some(file) = walked.file else {
            return Err(InputError::NotAFile { path: shown });
        };
        let size = u64::try_from(walked.stat.st_size).unwrap_or(u64::MAX);
        if size > limit {
            return Err(InputError::TooLarge { path: shown, limit });
        }
        // Sized up front: one allocation, no regrowth copies.
        let expected = usize::try_from(size).unwrap_or(0);
        let text = read_into(Vec::with_capacity(expected), &file, limit, &shown)?;
        // Written to while it was read: the text may be half of each.
        if !fstat(&file).is_ok_and(|after| same_file(&after, &walked.stat)) {
            self.changed = true;
        }
        #[cfg(test)]
        test_hook::run(test_hook::Moment::AfterRead, path);
        self.opened.push(Opened {
            path: path.to_path_buf(),
            real: walked.real.clone(),
            stat: walked.stat,
        });
        Ok((text, walked.real))
    }

    fn list(&mut self, path: &Path) -> Result<(PathBuf, Vec<(OsString, bool)>), InputError> {
        let io = |source: std::io::Error| InputError::Io {
            path: path.display().to_string(),
            source,
        };
        let walked = self.walk(path, Last::Dir)?;
        // Its files are read from the directory listed, not from one held
        // at that path before (it may have been replaced since).
        self.held
            .retain(|(held, _)| *held != walked.real && held != path);
        let dir = self
            .dirs
            .get(&walked.real)
            .ok_or_else(|| io(Errno::EBADF.into()))?;
        let before = fstat(dir).map_err(|e| io(e.into()))?;
        // The directory judged, reopened through its descriptor; without
        // /proc, the path it was judged at.
        let listed = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .or_else(|_| std::fs::read_dir(&walked.real))
            .map_err(io)?;
        let mut entries = Vec::new();
        for entry in listed {
            let entry = entry.map_err(io)?;
            let link = entry.file_type().is_ok_and(|t| t.is_symlink());
            entries.push((entry.file_name(), link));
        }
        if !fstat(dir).is_ok_and(|after| same_file(&after, &before)) {
            self.changed = true;
        }
        self.opened.push(Opened {
            path: path.to_path_buf(),
            real: walked.real.clone(),
            stat: before,
        });
        Ok((walked.real, entries))
    }

    /// Walk `path` from `/`: see [`read_trusted_real`].
    fn walk(&mut self, path: &Path, last: Last) -> Result<Walked, InputError> {
        if let Some(walked) = self.walk_clean(path, last) {
            return walked;
        }
        let shown = || path.display().to_string();
        let io = |source: Errno| InputError::Io {
            path: shown(),
            source: source.into(),
        };
        let euid = euid();
        let absolute;
        let path_from_root = if path.is_absolute() {
            path
        } else {
            let cwd = std::env::current_dir().map_err(|source| InputError::Io {
                path: shown(),
                source,
            })?;
            absolute = cwd.join(path);
            absolute.as_path()
        };
        let mut rest: VecDeque<OsString> = VecDeque::new();
        push_components(&mut rest, path_from_root, false);
        let root = PathBuf::from("/");
        if !self.dirs.contains_key(&root) {
            let fd = nix::fcntl::open(
                "/",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(io)?;
            let stat = fstat(&fd).map_err(io)?;
            judge_dir(&root, path, &stat, euid, rest.is_empty(), Some(fd.as_fd()))?;
            self.dirs.insert(root.clone(), fd);
        }
        let mut cur = root;
        let mut links = 0;
        let follow = |links: &mut usize| {
            *links += 1;
            if *links > MAX_LINKS {
                Err(io(Errno::ELOOP))
            } else {
                Ok(())
            }
        };
        loop {
            let Some(name) = rest.pop_front() else {
                // The path names a directory passed already (`/`, `a/..`).
                let dir = self.dirs.get(&cur).ok_or_else(|| io(Errno::EBADF))?;
                let stat = fstat(dir).map_err(io)?;
                return match last {
                    Last::Read => Err(InputError::NotAFile { path: shown() }),
                    Last::Stat | Last::Dir => Ok(Walked {
                        real: cur,
                        stat,
                        file: None,
                    }),
                };
            };
            if name == ".." {
                cur.pop();
                continue;
            }
            let here = cur.join(&name);
            if let Some(target) = self.links.get(&here) {
                follow(&mut links)?;
                push_components(&mut rest, Path::new(target), true);
                if Path::new(target).is_absolute() {
                    cur = PathBuf::from("/");
                }
                continue;
            }
            let final_component = rest.is_empty();
            if (!final_component || last == Last::Dir) && self.dirs.contains_key(&here) {
                cur = here;
                continue;
            }
            let dir = self.dirs.get(&cur).ok_or_else(|| io(Errno::EBADF))?;
            if final_component && last != Last::Dir {
                #[cfg(test)]
                test_hook::run(test_hook::Moment::BeforeOpen, path);
                let opened = match last {
                    Last::Read => openat(dir, name.as_os_str(), READ_TRUSTED, Mode::empty())
                        .and_then(|fd| Ok((fstat(&fd)?, Some(fd)))),
                    _ => fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .map(|stat| (stat, None)),
                };
                let (stat, file) = match opened {
                    // A link, which O_NOFOLLOW does not open.
                    Err(Errno::ELOOP) if last == Last::Read => (
                        fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io)?,
                        None,
                    ),
                    Err(e) => return Err(io(e)),
                    Ok(opened) => opened,
                };
                if is(&stat, libc::S_IFLNK) {
                    if on_procfs(dir) {
                        return self.kernel_link(path, &here, &name, last, euid);
                    }
                    follow(&mut links)?;
                    let target = readlinkat(dir, name.as_os_str()).map_err(io)?;
                    push_components(&mut rest, Path::new(&target), true);
                    if Path::new(&target).is_absolute() {
                        cur = PathBuf::from("/");
                    }
                    self.links.insert(here, target);
                    continue;
                }
                judge_last(
                    &here,
                    path,
                    &stat,
                    last,
                    euid,
                    file.as_ref().map(|f| f.as_fd()),
                )?;
                return Ok(Walked {
                    real: here,
                    stat,
                    file: file.map(std::fs::File::from),
                });
            }
            // A directory on the way (or the directory asked for).
            let fd = openat(
                dir,
                name.as_os_str(),
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(io)?;
            let stat = fstat(&fd).map_err(io)?;
            if is(&stat, libc::S_IFLNK) {
                if on_procfs(dir) {
                    let followed = openat(
                        dir,
                        name.as_os_str(),
                        OFlag::O_PATH | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(io)?;
                    let stat = fstat(&followed).map_err(io)?;
                    if !is(&stat, libc::S_IFDIR) {
                        return Err(not_a_directory(path, final_component, last));
                    }
                    let fd = Some(followed.as_fd());
                    judge_dir(&here, path, &stat, euid, final_component, fd)?;
                    self.dirs.insert(here.clone(), followed);
                    cur = here;
                    continue;
                }
                follow(&mut links)?;
                let target = readlinkat(dir, name.as_os_str()).map_err(io)?;
                push_components(&mut rest, Path::new(&target), true);
                if Path::new(&target).is_absolute() {
                    cur = PathBuf::from("/");
                }
                self.links.insert(here, target);
                continue;
            }
            if !is(&stat, libc::S_IFDIR) {
                return Err(not_a_directory(path, final_component, last));
            }
            judge_dir(&here, path, &stat, euid, final_component, Some(fd.as_fd()))?;
            self.dirs.insert(here.clone(), fd);
            cur = here;
        }
    }

    /// The walk of a clean absolute path (no `.`, `..` or link recorded in
    /// this resolution on the way) with one `lstat` per directory not judged
    /// before, the file then opened by its path (`O_NOFOLLOW`) and judged by
    /// the `fstat` of what was opened; in a directory held open
    /// ([`Self::hold`]), looked up relative to it. As safe as the walk by
    /// descriptors:
    /// every directory on the way is judged changeable by root or the
    /// hook's user alone (or sticky, where no one replaces what they do not
    /// own), so no one else can make the path lead elsewhere between the
    /// `lstat`s and the open. `None` (walk by descriptors instead, which
    /// also words the errors) at a link, at anything but a directory on
    /// the way, or when a lookup fails; a directory judged untrusted is the
    /// same error either way.
    fn walk_clean(&mut self, path: &Path, last: Last) -> Option<Result<Walked, InputError>> {
        let bytes = path.as_os_str().as_bytes();
        if last == Last::Dir || !is_clean(bytes) {
            return None;
        }
        // A link read before on the way is taken as read: walk by descriptors.
        let below = |link: &PathBuf| {
            let link = link.as_os_str().as_bytes();
            bytes.starts_with(link) && bytes.get(link.len()).is_none_or(|b| *b == b'/')
        };
        if self.links.keys().any(below) {
            return None;
        }
        let euid = euid();
        let (parent, name) = bytes.split_at(bytes.iter().rposition(|b| *b == b'/')?);
        if let Some((_, dir)) = self
            .held
            .iter()
            .find(|(d, _)| d.as_os_str().as_bytes() == parent)
        {
            return in_open_dir(dir.as_fd(), OsStr::from_bytes(&name[1..]), path, last, euid);
        }
        // Each directory above, from `/` down (`/`, `/a`, `/a/b` of `/a/b/c`).
        let ends = std::iter::once(1).chain(
            bytes
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, b)| **b == b'/')
                .map(|(i, _)| i),
        );
        for end in ends {
            let dir = Path::new(OsStr::from_bytes(&bytes[..end]));
            if self.judged.iter().any(|d| d.as_os_str() == dir.as_os_str())
                || self.dirs.contains_key(dir)
            {
                continue;
            }
            let stat = nix::sys::stat::lstat(dir).ok()?;
            if !is(&stat, libc::S_IFDIR) {
                return None;
            }
            if let Err(e) = judge_dir(dir, path, &stat, euid, false, None) {
                return Some(Err(e));
            }
            self.judged.push(dir.to_path_buf());
        }
        #[cfg(test)]
        test_hook::run(test_hook::Moment::BeforeOpen, path);
        let (stat, file) = match last {
            Last::Read => {
                let fd = nix::fcntl::open(path, READ_TRUSTED, Mode::empty()).ok()?;
                (fstat(&fd).ok()?, Some(std::fs::File::from(fd)))
            }
            Last::Stat | Last::Dir => (nix::sys::stat::lstat(path).ok()?, None),
        };
        let walked = judged_last(path, stat, file, last, euid)?;
        if walked.is_ok() && is(&stat, libc::S_IFDIR) {
            self.hold(path, &stat);
        }
        Some(walked)
    }

    /// Keep a directory judged by its `lstat` open, so that the files in
    /// it are looked up relative to it (one component each, not the whole
    /// path: ~0.2 µs less per file here, for a policy directory's hundred
    /// cache stamps). Only when what opens is what was judged; a later
    /// judgement of the same path replaces it.
    fn hold(&mut self, dir: &Path, judged: &FileStat) {
        self.held.retain(|(held, _)| held != dir);
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if let Ok(fd) = nix::fcntl::open(dir, flags, Mode::empty())
            && fstat(&fd).is_ok_and(|st| same_file(&st, judged))
        {
            self.held.push((dir.to_path_buf(), fd));
        }
    }

    /// A link of `/proc` at the end of a path (`/proc/self/fd/N`, which may
    /// name a file no path leads to, such as a memfd): opened by the kernel
    /// through it, and judged by what was opened.
    fn kernel_link(
        &mut self,
        path: &Path,
        here: &Path,
        name: &OsStr,
        last: Last,
        euid: u32,
    ) -> Result<Walked, InputError> {
        let io = |source: Errno| InputError::Io {
            path: path.display().to_string(),
            source: source.into(),
        };
        let parent = here.parent().unwrap_or(Path::new("/"));
        let dir = self.dirs.get(parent).ok_or_else(|| io(Errno::EBADF))?;
        let flags = match last {
            Last::Read => OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Last::Stat | Last::Dir => OFlag::O_PATH | OFlag::O_CLOEXEC,
        };
        let fd = openat(dir, name, flags, Mode::empty()).map_err(io)?;
        let stat = fstat(&fd).map_err(io)?;
        judge_last(here, path, &stat, last, euid, Some(fd.as_fd()))?;
        let file = match last {
            Last::Read => Some(std::fs::File::from(fd)),
            Last::Dir => {
                self.dirs.insert(here.to_path_buf(), fd);
                None
            }
            Last::Stat => None,
        };
        Ok(Walked {
            real: here.to_path_buf(),
            stat,
            file,
        })
    }
}

/// Queue the components of `path` in front of `rest` (`front`) or as the
/// whole of it.
fn push_components(rest: &mut VecDeque<OsString>, path: &Path, front: bool) {
    let names: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    if front {
        for name in names.into_iter().rev() {
            rest.push_front(name);
        }
    } else {
        rest.extend(names);
    }
}

/// An absolute path with no empty, `.` or `..` component and no trailing
/// `/`, other than `/` itself.
fn is_clean(path: &[u8]) -> bool {
    let [b'/', rest @ ..] = path else {
        return false;
    };
    !rest.is_empty()
        && rest
            .split(|b| *b == b'/')
            .all(|name| !name.is_empty() && name != b"." && name != b"..")
}

fn is(stat: &FileStat, kind: libc::mode_t) -> bool {
    stat.st_mode & libc::S_IFMT == kind
}

fn on_procfs(dir: &OwnedFd) -> bool {
    nix::sys::statfs::fstatfs(dir)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// The same file, unchanged: identity, size, times, mode and owner.
fn same_file(a: &FileStat, b: &FileStat) -> bool {
    (
        a.st_dev,
        a.st_ino,
        a.st_size,
        a.st_mtime,
        a.st_mtime_nsec,
        a.st_ctime,
        a.st_ctime_nsec,
        a.st_mode,
        a.st_uid,
    ) == (
        b.st_dev,
        b.st_ino,
        b.st_size,
        b.st_mtime,
        b.st_mtime_nsec,
        b.st_ctime,
        b.st_ctime_nsec,
        b.st_mode,
        b.st_uid,
    )
}

fn not_a_directory(path: &Path, final_component: bool, last: Last) -> InputError {
    if final_component && last == Last::Dir {
        InputError::NotADirectory {
            path: path.display().to_string(),
        }
    } else {
        InputError::Io {
            path: path.display().to_string(),
            source: Errno::ENOTDIR.into(),
        }
    }
}

/// A directory on the way to `path`, or (`itself`) the directory `path`
/// names.
fn judge_dir(
    dir: &Path,
    path: &Path,
    stat: &FileStat,
    euid: u32,
    itself: bool,
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), InputError> {
    let at = At { place: dir, fd };
    match untrusted_mode(stat.st_uid, stat.st_mode, euid, at) {
        None => Ok(()),
        Some(why) if itself => Err(InputError::Untrusted {
            path: path.display().to_string(),
            why,
        }),
        Some(why) => Err(InputError::UntrustedDir {
            dir: dir.display().to_string(),
            path: path.display().to_string(),
            why,
        }),
    }
}

/// The last step of [`Resolution::walk_clean`] for a file (`name`) whose
/// directory is held open, judged with every directory above it: looked up
/// relative to it. `None` at a link, or when the lookup fails.
fn in_open_dir(
    dir: BorrowedFd,
    name: &OsStr,
    path: &Path,
    last: Last,
    euid: u32,
) -> Option<Result<Walked, InputError>> {
    #[cfg(test)]
    test_hook::run(test_hook::Moment::BeforeOpen, path);
    let (stat, file) = match last {
        Last::Read => {
            let fd = openat(dir, name, READ_TRUSTED, Mode::empty()).ok()?;
            (fstat(&fd).ok()?, Some(std::fs::File::from(fd)))
        }
        Last::Stat | Last::Dir => (fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?, None),
    };
    judged_last(path, stat, file, last, euid)
}

/// The end of a walk by paths ([`Resolution::walk_clean`]): `path`, its
/// `stat` and the file opened, judged; `None` at a link, which the walk by
/// descriptors follows.
fn judged_last(
    path: &Path,
    stat: FileStat,
    file: Option<std::fs::File>,
    last: Last,
    euid: u32,
) -> Option<Result<Walked, InputError>> {
    if is(&stat, libc::S_IFLNK) {
        return None;
    }
    let fd = file.as_ref().map(|f| f.as_fd());
    Some(
        judge_last(path, path, &stat, last, euid, fd).map(|()| Walked {
            real: path.to_path_buf(),
            stat,
            file,
        }),
    )
}

/// The last component of a walk, by the `fstat` of what was opened.
fn judge_last(
    here: &Path,
    path: &Path,
    stat: &FileStat,
    last: Last,
    euid: u32,
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), InputError> {
    let shown = || path.display().to_string();
    match last {
        Last::Dir if !is(stat, libc::S_IFDIR) => {
            return Err(InputError::NotADirectory { path: shown() });
        }
        Last::Dir => return judge_dir(here, path, stat, euid, true, fd),
        Last::Stat if is(stat, libc::S_IFDIR) => {
            return judge_dir(here, path, stat, euid, true, fd);
        }
        Last::Read | Last::Stat if !is(stat, libc::S_IFREG) => {
            return Err(InputError::NotAFile { path: shown() });
        }
        Last::Read | Last::Stat => {}
    }
    let at = At { place: here, fd };
    match untrusted_mode(stat.st_uid, stat.st_mode, euid, at) {
        None => Ok(()),
        Some(why) => Err(InputError::Untrusted { path: shown(), why }),
    }
}

/// Where a file or directory judged can be found again, for
/// [`root_through_namespace`]: its place (its links resolved) and, when it
/// is open, its descriptor.
#[derive(Clone, Copy)]
struct At<'a> {
    place: &'a Path,
    fd: Option<BorrowedFd<'a>>,
}

impl<'a> At<'a> {
    fn path(place: &'a Path) -> Self {
        At { place, fd: None }
    }

    fn fd(place: &'a Path, fd: &'a impl AsFd) -> Self {
        At {
            place,
            fd: Some(fd.as_fd()),
        }
    }
}

/// The hook's effective uid, asked of the kernel once: the hook never
/// changes it, and the trusted reads ask for every file they judge.
pub fn euid() -> u32 {
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *EUID.get_or_init(|| nix::unistd::geteuid().as_raw())
}

/// Whether a file or directory `stat` shows owned by `uid` (mode `mode`) is
/// root's or the hook's user's, as the trusted reads judge owners: root
/// seen through the hook's user namespace included (see
/// [`root_through_namespace`]). `place` names it, links resolved, its own
/// link not followed.
pub fn owned_by_root_or_hook(uid: u32, mode: u32, place: &Path) -> bool {
    uid == 0
        || uid == euid()
        || root_through_namespace(UserNs::current(), uid, mode, At::path(place)).is_ok()
}

/// Whether the hook runs in a user namespace that leaves the parent
/// namespace's root unmapped: a rootless runtime's (see [`UserNs`]).
pub fn in_rootless_namespace() -> bool {
    UserNs::current().is_some_and(|ns| !ns.maps_root)
}

/// Why a file or directory anyone but root or the hook's user could change
/// is not to be trusted (`None`: it is trusted). A directory with the sticky
/// bit may be writable by others (`/tmp`): they cannot replace what they do
/// not own in it, and what is in it is checked in turn.
fn untrusted(meta: &std::fs::Metadata, euid: u32, at: At<'_>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    untrusted_mode(meta.uid(), meta.mode(), euid, at)
}

/// [`untrusted`] by owner and `st_mode` (file type bits included).
fn untrusted_mode(uid: u32, mode: u32, euid: u32, at: At<'_>) -> Option<String> {
    let sticky_dir = mode & libc::S_IFMT == libc::S_IFDIR && mode & 0o1000 != 0;
    let writable = mode & 0o022 != 0 && !sticky_dir;
    // Seen through a rootless namespace, what others can write is refused
    // for that whoever owns it (and the owner test needs a mode they
    // cannot write).
    let overflow_writable =
        || writable && UserNs::current().is_some_and(|ns| !ns.maps_root && ns.overflow == uid);
    if uid != 0
        && uid != euid
        && !overflow_writable()
        && let Err(note) = root_through_namespace(UserNs::current(), uid, mode, at)
    {
        Some(format!(
            "owned by uid {uid}, neither root nor the hook's user{note}"
        ))
    } else if writable {
        Some(format!(
            "writable by {} (mode {:o})",
            if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            mode & 0o7777
        ))
    } else {
        None
    }
}

/// The hook's user namespace, as far as owners go. A rootless runtime
/// (rootless podman) runs the hook inside the user's user namespace, which
/// maps the user's own uid (as 0) and subordinate ids, and nothing else:
/// every other owner, root included, shows as the kernel's overflow uid.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserNs {
    /// The overflow uid (`/proc/sys/kernel/overflowuid`, 65534).
    overflow: u32,
    /// The map covers the parent namespace's uid 0 (the initial namespace's
    /// identity map, or a map made by root): root's files show under the id
    /// it maps to, never as the overflow uid.
    maps_root: bool,
    /// The namespace has an id of its own with the overflow uid's number
    /// (rootless podman's 65536 subordinate ids cover 65534): a file
    /// showing it may be that id's, one of the user's.
    maps_overflow: bool,
}

impl UserNs {
    /// `uid_map` lines are `inside outside count`, outside ids being the
    /// parent namespace's.
    fn parse(uid_map: &str, overflowuid: &str) -> Option<UserNs> {
        let overflow = overflowuid.trim().parse().ok()?;
        let mut extents = Vec::new();
        for line in uid_map.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
            let (Some(Some(inside)), Some(Some(outside)), Some(Some(count)), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return None;
            };
            extents.push((inside, outside, count));
        }
        let covers = |first: u64, count: u64, id: u64| first <= id && id - first < count;
        Some(UserNs {
            overflow,
            maps_root: extents.iter().any(|&(_, out, n)| covers(out, n, 0)),
            maps_overflow: extents
                .iter()
                .any(|&(inside, _, n)| covers(inside, n, u64::from(overflow))),
        })
    }

    /// The hook's, read once per process (and only when an owner other than
    /// root or the hook's user is met); `None` when it cannot be read.
    fn current() -> Option<&'static UserNs> {
        static CURRENT: std::sync::OnceLock<Option<UserNs>> = std::sync::OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
                let overflow = std::fs::read_to_string("/proc/sys/kernel/overflowuid").ok()?;
                UserNs::parse(&map, &overflow)
            })
            .as_ref()
    }
}

/// Whether a file or directory whose owner shows as `uid`, neither 0 nor the
/// hook's user, is root's seen through the hook's user namespace: `Ok` when
/// it is, as far as the kernel lets the hook tell; otherwise the note that
/// ends the refusal (empty outside a user namespace).
///
/// The overflow uid is every owner the namespace does not map: root when
/// the map leaves the parent namespace's uid 0 out, but also any other
/// user it leaves out, and no system call shows which (`stat`, `statx`,
/// ACLs and `/proc` all translate owners through the caller's namespace).
/// So: not below a sticky directory any user can create entries in, where
/// another user's file is as likely; and, when the namespace has its own id
/// of that number, not that id's ([`owner_is`]). What remains is a file or
/// directory root gave another user (root's own hook refuses it).
fn root_through_namespace(
    ns: Option<&UserNs>,
    uid: u32,
    mode: u32,
    at: At<'_>,
) -> Result<(), String> {
    let Some(ns) = ns else {
        return Err(if uid == 65534 {
            " (and the hook cannot read /proc/self/uid_map or /proc/sys/kernel/overflowuid to tell whether a user namespace shows root's files as 65534)".into()
        } else {
            String::new()
        });
    };
    if uid != ns.overflow || ns.maps_root {
        return Err(String::new());
    }
    let seen = format!(
        " (seen from the hook's user namespace, where every owner it does not map shows as {uid}: root, or another user it does not map"
    );
    if let Some(parent) = at.place.parent() {
        let up = nix::sys::stat::lstat(parent)
            .map_err(|e| format!("{seen}; the hook cannot look at {}: {e})", parent.display()))?;
        if is(&up, libc::S_IFDIR) && up.st_mode & 0o1000 != 0 && up.st_mode & 0o022 != 0 {
            return Err(format!(
                "{seen}; below {}, a sticky directory any user can create entries in, it is not taken for root's)",
                parent.display()
            ));
        }
    }
    if !ns.maps_overflow {
        return Ok(());
    }
    match owner_is(uid, mode, at) {
        Owner::Not => Ok(()),
        Owner::Is => Err(format!(
            " (the hook's user namespace's own uid {uid}, one of the user's subordinate ids, owns it, not root)"
        )),
        Owner::Unknown(why) => Err(format!(
            "{seen}, as does the namespace's own uid {uid}; the hook cannot tell which owns it: {why})"
        )),
    }
}

/// Whether the namespace's own id `id` owns the file or directory.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    Is,
    Not,
    Unknown(String),
}

/// Ask the kernel whether `id` (an id of the hook's namespace) owns what
/// `at` names, without changing it: with the filesystem uid set to `id`
/// (which turns the file capabilities off until it is set back), an access
/// the mode gives its owner and neither its group nor others succeeds only
/// for the owner; in a sticky directory (`/tmp`, mode 1777, where the mode
/// tells nothing) only its owner may set a `user.` attribute, and replacing
/// one it does not have fails after that check, changing nothing. The
/// kernel compares the real owners here, which `stat` cannot show.
fn owner_is(id: u32, mode: u32, at: At<'_>) -> Owner {
    // (access, owner bit, group and other bits)
    const TESTS: [(i32, u32, u32); 3] = [
        (libc::W_OK, 0o200, 0o022),
        (libc::R_OK, 0o400, 0o044),
        (libc::X_OK, 0o100, 0o011),
    ];
    let mut why = format!(
        "its mode ({:o}) gives its owner no access that its group and others lack",
        mode & 0o7777
    );
    for (access, owner, rest) in TESTS {
        if mode & owner == 0 || mode & rest != 0 {
            continue;
        }
        match as_fsuid(id, || faccessat2(at, access)) {
            None => return Owner::Unknown(format!("the hook cannot take uid {id} to test it")),
            Some(Ok(())) => return Owner::Is,
            Some(Err(Errno::EACCES)) => return Owner::Not,
            // A read-only file system or an immutable file: try the next.
            Some(Err(e)) => why = format!("testing it as uid {id} failed: {e}"),
        }
    }
    if mode & libc::S_IFMT == libc::S_IFDIR && mode & 0o1000 != 0 {
        match as_fsuid(id, || replace_xattr(at)) {
            None => return Owner::Unknown(format!("the hook cannot take uid {id} to test it")),
            Some(Ok(()) | Err(Errno::ENODATA)) => return Owner::Is,
            // Not the owner; or an immutable or append-only directory,
            // which only root can make and no owner can change.
            Some(Err(Errno::EPERM)) => return Owner::Not,
            Some(Err(e)) => why = format!("testing it as uid {id} failed: {e}"),
        }
    }
    Owner::Unknown(why)
}

/// Run `f` with this thread's filesystem uid set to `id`, set back after;
/// `None` when the hook cannot take `id`. A raw system call: a libc may
/// broadcast setfsuid to other threads.
fn as_fsuid<T>(id: u32, f: impl FnOnce() -> T) -> Option<T> {
    let setfsuid = |uid: libc::uid_t| {
        // SAFETY: setfsuid takes an integer and only changes this thread's
        // filesystem uid; it returns the previous one.
        unsafe { libc::syscall(libc::SYS_setfsuid, uid) as libc::uid_t }
    };
    let before = setfsuid(id);
    // An invalid id changes nothing and returns the current one.
    if setfsuid(libc::uid_t::MAX) != id {
        setfsuid(before);
        return None;
    }
    let result = f();
    setfsuid(before);
    Some(result)
}

/// `faccessat2(…, AT_EACCESS)`: with the filesystem uid and the effective
/// capabilities, as opening would. A raw system call: a libc may emulate it.
fn faccessat2(at: At<'_>, access: i32) -> Result<(), Errno> {
    let result = match at.fd {
        // SAFETY: a valid descriptor, an empty C string, plain integers.
        Some(fd) => unsafe {
            libc::syscall(
                libc::SYS_faccessat2,
                fd.as_raw_fd(),
                c"".as_ptr(),
                access,
                libc::AT_EACCESS | libc::AT_EMPTY_PATH,
            )
        },
        None => {
            let place = std::ffi::CString::new(at.place.as_os_str().as_bytes())
                .map_err(|_| Errno::EINVAL)?;
            // SAFETY: a NUL-terminated path, plain integers.
            unsafe {
                libc::syscall(
                    libc::SYS_faccessat2,
                    libc::AT_FDCWD,
                    place.as_ptr(),
                    access,
                    libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW,
                )
            }
        }
    };
    Errno::result(result).map(drop)
}

/// Replace a `user.` attribute no one sets (`XATTR_REPLACE`: nothing is
/// created; `ENODATA` once the permission check passed).
fn replace_xattr(at: At<'_>) -> Result<(), Errno> {
    const NAME: &std::ffi::CStr = c"user.oci-psp-hook.owner-probe";
    let place =
        std::ffi::CString::new(at.place.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: NUL-terminated strings, an empty value.
    let result = unsafe {
        libc::lsetxattr(
            place.as_ptr(),
            NAME.as_ptr(),
            std::ptr::null(),
            0,
            libc::XATTR_REPLACE,
        )
    };
    Errno::result(result).map(drop)
}

/// Read `<bundle>/config.json` for the hook. runc read it before the hook
/// runs; whoever could change it (or the bundle, or any directory above it)
/// in between could have the hook judge another config than the one runc
/// applies. So the bundle's directories up to `/` and the file must be owned
/// by root or the hook's user and writable by no one else, and config.json
/// must be a regular file, not a link. Returns the text and the bundle
/// resolved.
pub fn read_bundle_config(
    bundle: &Path,
    limit: u64,
) -> Result<(Text, std::path::PathBuf), InputError> {
    let config = bundle.join("config.json");
    let shown = config.display().to_string();
    let io = |path: &Path, source| InputError::Io {
        path: path.display().to_string(),
        source,
    };
    let euid = euid();
    // The runtimes hand a clean absolute path: one `lstat` per directory
    // both judges it and shows it holds no link (then it is its own
    // resolution); otherwise it is resolved first.
    let clean = bundle.is_absolute()
        && bundle
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let direct: Option<Vec<(PathBuf, std::fs::Metadata)>> = clean
        .then(|| {
            bundle
                .ancestors()
                .map(|dir| {
                    std::fs::symlink_metadata(dir)
                        .ok()
                        .filter(|m| !m.file_type().is_symlink())
                        .map(|m| (dir.to_path_buf(), m))
                })
                .collect()
        })
        .flatten();
    let (real, judged) = match direct {
        Some(judged) => (bundle.to_path_buf(), judged),
        None => {
            let real = bundle.canonicalize().map_err(|e| io(bundle, e))?;
            let judged = real
                .ancestors()
                .map(|dir| {
                    std::fs::metadata(dir)
                        .map(|m| (dir.to_path_buf(), m))
                        .map_err(|e| io(dir, e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (real, judged)
        }
    };
    for (dir, meta) in &judged {
        if let Some(why) = untrusted(meta, euid, At::path(dir)) {
            return Err(InputError::UntrustedBundle {
                path: dir.display().to_string(),
                why,
            });
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(real.join("config.json"))
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => InputError::UntrustedBundle {
                path: shown.clone(),
                why: "a symbolic link".into(),
            },
            _ => io(&config, source),
        })?;
    let meta = file.metadata().map_err(|e| io(&config, e))?;
    if !meta.is_file() {
        return Err(InputError::NotAFile { path: shown });
    }
    if let Some(why) = untrusted(&meta, euid, At::fd(&real.join("config.json"), &file)) {
        return Err(InputError::UntrustedBundle { path: shown, why });
    }
    // SAFETY: a regular file only root or the hook's user can write, judged
    // above. The hook trusts them not to change it while it runs, as it
    // trusts them not to change it between runc's read and the hook's; one
    // cut short under a mapping kills the hook (SIGBUS), which blocks the
    // container.
    let text = unsafe { Text::of(file, &meta, limit, &shown) }?;
    Ok((text, real))
}

/// A file's text: read, or mapped from the page cache when it is large
/// ([`MAP_FROM`]).
#[derive(Debug)]
pub enum Text {
    Read(Vec<u8>),
    Mapped(memmap2::Mmap),
}

/// From this size on a file is mapped, not read: mapping costs ~10 µs more
/// than a read, but a read's copy lands in fresh pages, each made resident
/// and freed again (a thousand mounts' 135 KB config.json took 87 µs less
/// mapped; a typical 10 KB one 20 µs more).
const MAP_FROM: u64 = 32 << 10;

impl Text {
    /// The text of `file` (`meta` its `fstat`), at most `limit` bytes.
    ///
    /// # Safety
    /// A large file is mapped: no one may change it while the text lives.
    pub unsafe fn of(
        file: std::fs::File,
        meta: &std::fs::Metadata,
        limit: u64,
        shown: &str,
    ) -> Result<Text, InputError> {
        if meta.len() > limit {
            return Err(InputError::TooLarge {
                path: shown.to_string(),
                limit,
            });
        }
        let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        if meta.len() >= MAP_FROM {
            // SAFETY: the caller's.
            if let Ok(map) = unsafe { memmap2::MmapOptions::new().len(len).populate().map(&file) } {
                return Ok(Text::Mapped(map));
            }
        }
        // Small, or on a filesystem that cannot map it (the read still
        // stops at `limit`: the file can have grown).
        read_into(
            Vec::with_capacity(len.min(MAP_FROM as usize)),
            file,
            limit,
            shown,
        )
        .map(Text::Read)
    }
}

impl std::ops::Deref for Text {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Text::Read(bytes) => bytes,
            Text::Mapped(map) => map,
        }
    }
}

/// Read a stream (stdin) up to `limit` bytes; more is an error.
pub fn read_limited(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, InputError> {
    read_into(Vec::new(), reader, limit, what)
}

fn read_into(
    mut buf: Vec<u8>,
    reader: impl Read,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, InputError> {
    reader
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| InputError::Io {
            path: what.to_string(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: what.to_string(),
            limit,
        });
    }
    Ok(buf)
}

/// Test-only moments inside a walk, where a test can change the file system
/// as an attacker racing the hook would.
#[cfg(test)]
pub(crate) mod test_hook {
    use std::cell::RefCell;
    use std::path::Path;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Moment {
        /// Every directory above the file judged, the file not yet opened.
        BeforeOpen,
        /// The file opened and judged, not yet read.
        AfterOpen,
        /// The file read, before the next one.
        AfterRead,
    }

    type Hook = Box<dyn FnMut(Moment, &Path)>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Run `f` with `hook` called at each moment of this thread's walks.
    pub(crate) fn with<T>(hook: impl FnMut(Moment, &Path) + 'static, f: impl FnOnce() -> T) -> T {
        HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
        struct End;
        impl Drop for End {
            fn drop(&mut self) {
                HOOK.with(|h| h.borrow_mut().take());
            }
        }
        let _end = End;
        f()
    }

    pub(super) fn run(moment: Moment, path: &Path) {
        HOOK.with(|h| {
            if let Some(hook) = h.borrow_mut().as_mut() {
                hook(moment, path);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_fifo_without_blocking() {
        let dir = tempfile::Builder::new()
            .prefix("psp-fifo-")
            .tempdir()
            .unwrap();
        let fifo = dir.path().join("config.json");
        nix::unistd::mkfifo(
            &fifo,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .unwrap();
        let err = read_bounded(&fifo, 100).unwrap_err();
        assert!(err.to_string().contains("is not a regular file"), "{err}");
    }

    #[test]
    fn rejects_oversized_stream_and_file() {
        let err = read_limited(&[0u8; 11][..], 10, "stdin").unwrap_err();
        assert_eq!(err.to_string(), "stdin is larger than 10 bytes");
        assert_eq!(read_limited(&[1u8; 10][..], 10, "stdin").unwrap().len(), 10);
        let err = read_bounded(Path::new("/proc/self/status"), 1);
        // /proc files report size 0 but still may not exceed the bound
        assert!(err.is_err());
    }

    /// A temporary directory (mode 0755) below the sticky /tmp, removed on
    /// drop.
    struct Tmp(tempfile::TempDir);

    impl Tmp {
        fn new(name: &str) -> Tmp {
            let dir = tempfile::Builder::new()
                .prefix(&format!("psp-trust-{name}-"))
                .tempdir()
                .unwrap();
            // tempfile makes it 0700: the trust walk judges this mode too
            chmod(dir.path(), 0o755);
            Tmp(dir)
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        /// A file (its directories made, 0755) with `text` and `mode`.
        fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            let path = self.path().join(name);
            let parent = path.parent().unwrap();
            std::fs::create_dir_all(parent).unwrap();
            chmod(parent, 0o755);
            std::fs::write(&path, text).unwrap();
            chmod(&path, mode);
            path
        }
    }

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Replace `path` by a file with `text` and `mode` in one rename(2).
    fn swap_in(path: &Path, text: &str, mode: u32) {
        let tmp = path.with_extension("swap");
        std::fs::write(&tmp, text).unwrap();
        chmod(&tmp, mode);
        std::fs::rename(&tmp, path).unwrap();
    }

    /// Point the link `link` at `target` in one rename(2), as `install`
    /// swaps `current`.
    fn relink(link: &Path, target: &str) {
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).unwrap();
        std::fs::rename(&tmp, link).unwrap();
    }

    fn text(r: Result<Vec<u8>, InputError>) -> Result<String, String> {
        r.map(|b| String::from_utf8(b).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn world_or_group_writable_policy_is_refused() {
        let dir = Tmp::new("mode");
        let path = dir.file("p.yaml", "x", 0o666);
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(
            err.contains("p.yaml is writable by everyone (mode 666): refusing it"),
            "{err}"
        );
        assert!(err.ends_with("(chown root, chmod go-w)"), "{err}");
        // Group-writable is refused too: a member of the group could rewrite
        // the policy.
        chmod(&path, 0o664);
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(
            err.contains("p.yaml is writable by its group (mode 664): refusing it"),
            "{err}"
        );
        chmod(&path, 0o620);
        assert!(read_trusted(&path, 100).is_err());
        chmod(&path, 0o644);
        assert_eq!(read_trusted(&path, 100).unwrap(), b"x");
        chmod(&path, 0o600);
        assert_eq!(read_trusted(&path, 100).unwrap(), b"x");
        // The reason, for messages that name the file already.
        chmod(&path, 0o664);
        let reason = read_trusted(&path, 100).unwrap_err().reason();
        assert!(
            reason.starts_with("writable by its group (mode 664): refusing it"),
            "{reason}"
        );
    }

    #[test]
    fn a_directory_above_writable_by_others_is_refused_unless_sticky() {
        let dir = Tmp::new("above");
        let path = dir.file("a/b/p.yaml", "x", 0o644);
        let a = dir.path().join("a");
        chmod(&a, 0o757);
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} is writable by everyone (mode 757): refusing {} below it",
                a.display(),
                path.display()
            )),
            "{err}"
        );
        assert!(
            err.ends_with(&format!(
                "(chown root {}, chmod go-w {})",
                a.display(),
                a.display()
            )),
            "{err}"
        );
        chmod(&a, 0o775);
        let err = read_trusted(&path, 100).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "{} is writable by its group (mode 775)",
                a.display()
            )),
            "{err}"
        );
        assert!(
            err.reason().starts_with(&format!(
                "{}, a directory above it, is writable by its group (mode 775): refusing it",
                a.display()
            )),
            "{}",
            err.reason()
        );
        // A sticky directory writable by all, like /tmp: no one can replace
        // what they do not own in it; what is below is judged in turn.
        chmod(&a, 0o1777);
        assert_eq!(read_trusted(&path, 100).unwrap(), b"x");
        let b = a.join("b");
        chmod(&b, 0o777);
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{} is writable by everyone", b.display())),
            "{err}"
        );
        chmod(&b, 0o755);
        // The policy directory itself too, as read or listed.
        chmod(&b, 0o775);
        let err = list_trusted_dir(&b).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} is writable by its group (mode 775): refusing it",
                b.display()
            )),
            "{err}"
        );
        chmod(&b, 0o755);
        let (real, names) = list_trusted_dir(&b).unwrap();
        assert_eq!(real, b);
        assert_eq!(names, [(OsString::from("p.yaml"), false)]);
        if !root() {
            return; // only root can give a directory away
        }
        // A sticky directory's child owned by another user is not.
        std::os::unix::fs::chown(&b, Some(65534), Some(65534)).unwrap();
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} is owned by uid 65534, neither root nor the hook's user: refusing {} below it",
                b.display(),
                path.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_policy_directory_of_another_user_is_refused() {
        if !root() {
            return; // only root can give a directory away
        }
        let dir = Tmp::new("owner");
        let path = dir.file("policies.d/p.yaml", "x", 0o644);
        let policies = dir.path().join("policies.d");
        assert_eq!(read_trusted(&path, 100).unwrap(), b"x");
        // mode 0755: only its owner can write it, and its owner is not root
        std::os::unix::fs::chown(&policies, Some(65534), Some(65534)).unwrap();
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} is owned by uid 65534, neither root nor the hook's user: refusing {} below it",
                policies.display(),
                path.display()
            )),
            "{err}"
        );
        let err = list_trusted_dir(&policies).unwrap_err().to_string();
        assert!(err.contains("is owned by uid 65534"), "{err}");
        // The file itself given away.
        std::os::unix::fs::chown(&policies, Some(0), Some(0)).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} is owned by uid 65534, neither root nor the hook's user: refusing it",
                path.display()
            )),
            "{err}"
        );
    }

    /// The old reader judged `stat(path)` and then opened the path again, so
    /// whoever could rename in between had an unjudged file read as trusted.
    /// A test helper that swaps the file "after the check, before the open"
    /// has no such moment to use any more: the file is judged by the
    /// `fstat` of the descriptor that is then read. Swapped before the open,
    /// the file swapped in is what is judged; swapped after, the file
    /// already open is what is read.
    #[test]
    fn a_file_is_judged_as_it_was_opened() {
        let dir = Tmp::new("swap");
        let path = dir.file("p.yaml", "trusted", 0o644);
        let swap_once = |moment: test_hook::Moment, text: &'static str, mode: u32| {
            let mut done = false;
            move |m: test_hook::Moment, p: &Path| {
                if m == moment && !done {
                    done = true;
                    swap_in(p, text, mode);
                }
            }
        };
        // Every directory judged, then a group-writable file put in place:
        // it is that file that is opened and judged.
        let read = test_hook::with(
            swap_once(test_hook::Moment::BeforeOpen, "untrusted", 0o664),
            || text(read_trusted(&path, 100)),
        );
        let err = read.unwrap_err();
        assert!(err.contains("is writable by its group"), "{err}");
        // And the other way round: the trusted file swapped in is read.
        let read = test_hook::with(
            swap_once(test_hook::Moment::BeforeOpen, "trusted", 0o644),
            || text(read_trusted(&path, 100)),
        );
        assert_eq!(read.unwrap(), "trusted");
        // Opened and judged, then replaced: what is read is what was judged.
        let read = test_hook::with(
            swap_once(test_hook::Moment::AfterOpen, "untrusted", 0o664),
            || text(read_trusted(&path, 100)),
        );
        assert_eq!(read.unwrap(), "trusted");
        assert!(read_trusted(&path, 100).is_err(), "the swapped-in file");
    }

    /// Files swapped as fast as rename(2) goes while the hook reads: for a
    /// bounded time, and not once is the untrusted one read.
    #[test]
    fn a_swap_race_admits_nothing() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = Tmp::new("race");
        let path = dir.file("p.yaml", "trusted", 0o644);
        let good = dir.file("good", "trusted", 0o644);
        let bad = dir.file("bad", "untrusted", 0o664);
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, path) = (stop.clone(), path.clone());
            let tmp = dir.path().join("next");
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for from in [&bad, &good] {
                        let _ = std::fs::remove_file(&tmp);
                        std::fs::hard_link(from, &tmp).unwrap();
                        std::fs::rename(&tmp, &path).unwrap();
                    }
                }
            })
        };
        let (mut admitted, mut refused) = (0, 0);
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < until {
            match text(read_trusted(&path, 100)) {
                Ok(t) => {
                    assert_eq!(t, "trusted", "an untrusted file was read as trusted");
                    admitted += 1;
                }
                Err(_) => refused += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(admitted + refused > 0);
    }

    #[test]
    fn links_are_read_once_per_resolution() {
        let dir = Tmp::new("links");
        dir.file("versions/a/p.yaml", "a/p", 0o644);
        dir.file("versions/a/q.yaml", "a/q", 0o644);
        dir.file("versions/b/p.yaml", "b/p", 0o644);
        dir.file("versions/b/q.yaml", "b/q", 0o644);
        let current = dir.path().join("current");
        relink(&current, "versions/a");
        std::os::unix::fs::symlink("current/p.yaml", dir.path().join("p.yaml")).unwrap();
        let (p, q) = (dir.path().join("p.yaml"), current.join("q.yaml"));
        let (first, second, real) = one_resolution(|| {
            let first = text(read_trusted(&p, 100)).unwrap();
            // An installer publishes the next set in between.
            relink(&current, "versions/b");
            let (second, real) = read_trusted_real(&q, 100).unwrap();
            (first, String::from_utf8(second).unwrap(), real)
        });
        assert_eq!((first.as_str(), second.as_str()), ("a/p", "a/q"));
        assert_eq!(real, dir.path().join("versions/a/q.yaml"));
        // The next resolution reads the link again.
        assert_eq!(text(read_trusted(&q, 100)).unwrap(), "b/q");
        assert_eq!(text(read_trusted(&p, 100)).unwrap(), "b/p");
        assert_eq!(
            trusted_stat(&p).unwrap().0,
            dir.path().join("versions/b/p.yaml")
        );
        // A loop of links ends.
        std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
        let err = read_trusted(&dir.path().join("loop"), 100).unwrap_err();
        assert!(err.to_string().contains("symbolic links"), "{err}");
        // A relative path, and `..` after a link: taken where the link led
        // (current/.. is versions/), as the kernel takes it.
        let cwd = std::env::current_dir().unwrap();
        let relative = std::iter::repeat_n("..", cwd.components().count())
            .collect::<PathBuf>()
            .join(
                dir.path()
                    .join("current/../b/q.yaml")
                    .strip_prefix("/")
                    .unwrap(),
            );
        assert_eq!(text(read_trusted(&relative, 100)).unwrap(), "b/q");
    }

    /// `install` hands the loader an edited configuration as a memfd through
    /// /proc/self/fd: /proc's links are followed by the kernel, and the file
    /// it opens is judged like any other.
    #[test]
    fn proc_fd_links_are_followed_by_the_kernel() {
        use std::io::Write;
        let fd = nix::sys::memfd::memfd_create("psp-trust", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .unwrap();
        let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let mut file = std::fs::File::from(fd);
        file.write_all(b"memfd").unwrap();
        // A memfd starts 0777.
        let err = read_trusted(&path, 100).unwrap_err().to_string();
        assert!(err.contains("writable by everyone (mode 777)"), "{err}");
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let (read, real) = read_trusted_real(&path, 100).unwrap();
        assert_eq!(read, b"memfd");
        assert!(real.starts_with("/proc/"), "{}", real.display());
    }

    /// A file written to while it was read is not recorded as stable: the
    /// cache does not keep what was read.
    #[test]
    fn a_file_changed_while_read_is_not_recorded_stable() {
        let dir = Tmp::new("record");
        let path = dir.file("p.yaml", "before", 0o644);
        let (read, opened) = recording(|| read_trusted(&path, 100));
        assert_eq!(read.unwrap(), b"before");
        let opened = opened.unwrap();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].path, path);
        assert_eq!(opened[0].real, path);
        let (read, opened) = test_hook::with(
            |m, p| {
                if m == test_hook::Moment::AfterOpen {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    std::fs::write(p, "after, and longer").unwrap();
                }
            },
            || recording(|| read_trusted(&path, 100)),
        );
        assert!(read.is_ok());
        assert!(opened.is_none(), "changed while it was read");
    }

    /// A bundle named through a link is judged, and returned, as the
    /// directory the link leads to.
    /// Links at every level, relative and absolute, and `..` after a link:
    /// where `realpath` says; a dangling link or a missing file is an error.
    #[test]
    fn real_paths_are_realpaths() {
        use std::os::unix::fs::symlink;
        let temp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(temp.path()).unwrap();
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/file"), "").unwrap();
        symlink("a/b", dir.join("up")).unwrap();
        symlink(dir.join("up/file"), dir.join("abs")).unwrap();
        symlink("abs", dir.join("rel")).unwrap();
        symlink("missing", dir.join("dangling")).unwrap();
        for path in ["a/b/file", "up/file", "abs", "rel", "up/../b/file", "up/.."] {
            let path = dir.join(path);
            assert_eq!(
                real_path(&path).unwrap(),
                path.canonicalize().unwrap(),
                "{}",
                path.display()
            );
        }
        assert_eq!(real_path(&dir.join("rel")).unwrap(), dir.join("a/b/file"));
        assert!(real_path(&dir.join("dangling")).is_err());
        assert!(real_path(&dir.join("a/none")).is_err());
        // Magic links name the files of whichever process follows them.
        symlink("/proc/self/cwd", dir.join("cwd")).unwrap();
        for magic in [
            "/proc/self/exe",
            "/proc/self/cwd/x",
            "/dev/fd/0",
            "/proc/self/root/bin",
        ] {
            assert!(real_path(Path::new(magic)).is_err(), "{magic}");
        }
        assert!(real_path(&dir.join("cwd")).is_err());
        assert_eq!(
            real_path(Path::new("/proc/self")).unwrap(),
            PathBuf::from(format!("/proc/{}", std::process::id()))
        );
    }

    #[test]
    fn a_bundle_through_a_link_is_its_real_directory() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::Builder::new()
            .prefix("psp-bundle-link-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        let real = dir.join("real");
        std::fs::create_dir_all(&real).unwrap();
        for d in [dir, real.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(real.join("config.json"), "{}").unwrap();
        std::fs::set_permissions(
            real.join("config.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let (text, resolved) = read_bundle_config(&link, 100).unwrap();
        assert_eq!(&*text, b"{}");
        assert_eq!(resolved, real.canonicalize().unwrap());
        let (_, direct) = read_bundle_config(&real, 100).unwrap();
        assert_eq!(direct, real);
    }

    /// A large config.json is mapped, a small one read: the same text
    /// either way, and the same limit.
    #[test]
    fn a_large_config_is_mapped_with_the_same_text_and_limit() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::Builder::new()
            .prefix("psp-bundle-map-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.join("config.json");
        for len in [
            0,
            1,
            MAP_FROM as usize - 1,
            MAP_FROM as usize,
            3 * MAP_FROM as usize + 5,
        ] {
            let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            std::fs::write(&config, &body).unwrap();
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
            let (text, _) = read_bundle_config(dir, 1 << 20).unwrap();
            assert_eq!(
                matches!(text, Text::Mapped(_)),
                len as u64 >= MAP_FROM,
                "{len} bytes"
            );
            assert!(*text == body[..], "{len} bytes");
            if len > 0 {
                let err = read_bundle_config(dir, len as u64 - 1)
                    .unwrap_err()
                    .to_string();
                assert!(err.contains("larger than"), "{len} bytes: {err}");
            }
        }
    }

    #[test]
    fn a_bundle_others_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::Builder::new()
            .prefix("psp-bundle-")
            .tempdir()
            .unwrap();
        let dir = temp.path();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.join("config.json");
        std::fs::write(&config, "{}").unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(&*read_bundle_config(dir, 100).unwrap().0, b"{}");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = read_bundle_config(dir, 100).unwrap_err().to_string();
        assert!(err.contains("config.json is writable by everyone"), "{err}");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        let err = read_bundle_config(dir, 100).unwrap_err().to_string();
        assert!(err.contains("is writable by its group (mode 775)"), "{err}");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_file(&config).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &config).unwrap();
        let err = read_bundle_config(dir, 100).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
    }

    /// What `/proc/self/uid_map` says of root's files: the initial
    /// namespace maps everything; rootless podman's maps the user's uid and
    /// subordinate ids, 65534 among them, and never root.
    #[test]
    fn user_namespace_maps_are_read() {
        let parse = |map: &str| UserNs::parse(map, "65534\n");
        let init = parse("         0          0 4294967295\n").unwrap();
        assert!(init.maps_root && init.maps_overflow);
        let podman = parse("0 1001 1\n1 100000 65536\n65537 200000 65536\n").unwrap();
        assert_eq!(
            podman,
            UserNs {
                overflow: 65534,
                maps_root: false,
                maps_overflow: true
            }
        );
        let single = parse("0 1001 1\n").unwrap();
        assert!(!single.maps_root && !single.maps_overflow);
        // a namespace root made, mapping root somewhere inside
        assert!(parse("0 100000 1000\n1000 0 1\n").unwrap().maps_root);
        assert!(parse("0 1001\n").is_none());
        assert!(parse("0 1001 1 9\n").is_none());
        assert!(UserNs::parse("0 1001 1\n", "nobody").is_none());
    }

    /// An owner shown as 65534 in a rootless namespace: root's, except
    /// below a sticky directory, or when the namespace's own 65534 owns it
    /// (the kernel tells, through the owner's access), or when the kernel
    /// cannot tell. Simulated in the initial namespace: the namespace is
    /// given, the files really owned by root or by 65534.
    #[test]
    fn an_overflow_owner_is_root_only_when_the_kernel_can_tell() {
        let rootless = |maps_overflow| UserNs {
            overflow: 65534,
            maps_root: false,
            maps_overflow,
        };
        let dir = Tmp::new("userns");
        let file = dir.file("d/p.yaml", "x", 0o644);
        let judge = |ns: Option<&UserNs>, uid: u32, mode: u32, place: &Path| {
            root_through_namespace(ns, uid, mode, At::path(place))
        };
        // Outside a rootless namespace nothing changes.
        let init = UserNs {
            maps_root: true,
            ..rootless(true)
        };
        assert_eq!(
            judge(Some(&init), 65534, 0o100644, &file),
            Err(String::new())
        );
        assert!(
            judge(None, 65534, 0o100644, &file)
                .unwrap_err()
                .contains("uid_map")
        );
        assert_eq!(judge(None, 1000, 0o100644, &file), Err(String::new()));
        // Another id is never root's.
        assert_eq!(
            judge(Some(&rootless(false)), 1000, 0o100644, &file),
            Err(String::new())
        );
        // The namespace maps no 65534 of its own: 65534 is someone it does
        // not map.
        assert_eq!(
            judge(Some(&rootless(false)), 65534, 0o100644, &file),
            Ok(())
        );
        // Below a sticky directory any user can create entries in, anyone's.
        let sticky = dir.path().join("sticky");
        std::fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        let below = sticky.join("p.yaml");
        std::fs::write(&below, "x").unwrap();
        let err = judge(Some(&rootless(false)), 65534, 0o100644, &below).unwrap_err();
        assert!(
            err.contains("a sticky directory any user can create entries in"),
            "{err}"
        );
        if !root() {
            return; // only root can give files away and take another fsuid
        }
        // The namespace maps its own 65534: the kernel tells whose it is.
        let ns = rootless(true);
        assert_eq!(judge(Some(&ns), 65534, 0o100644, &file), Ok(()), "root's");
        assert_eq!(
            judge(Some(&ns), 65534, 0o40755, &dir.path().join("d")),
            Ok(())
        );
        assert_eq!(
            judge(Some(&ns), 65534, 0o41777, &sticky),
            Ok(()),
            "root's /tmp"
        );
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let err = judge(Some(&ns), 65534, 0o100644, &file).unwrap_err();
        assert!(err.contains("namespace's own uid 65534"), "{err}");
        let opened = std::fs::File::open(&file).unwrap();
        let at = At::fd(&file, &opened);
        assert!(root_through_namespace(Some(&ns), 65534, 0o100644, at).is_err());
        std::os::unix::fs::chown(&sticky, Some(65534), None).unwrap();
        let err = judge(Some(&ns), 65534, 0o41777, &sticky).unwrap_err();
        assert!(err.contains("namespace's own uid 65534"), "{err}");
        // A mode that gives the owner nothing more: the kernel cannot tell.
        std::os::unix::fs::chown(&file, Some(0), None).unwrap();
        chmod(&file, 0o444);
        let err = judge(Some(&ns), 65534, 0o100444, &file).unwrap_err();
        assert!(
            err.contains("cannot tell which owns it: its mode (444)"),
            "{err}"
        );
        // The probe leaves the thread's filesystem uid as it was.
        // SAFETY: setfsuid(-1) changes nothing and returns the current one.
        let fsuid = unsafe { libc::syscall(libc::SYS_setfsuid, libc::uid_t::MAX) };
        assert_eq!(fsuid, 0);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_bounded(Path::new("/nonexistent/config.json"), 10).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/config.json: "),
            "{err}"
        );
    }

    /// A directory held open by a stat is not where the files of the
    /// directory listed later at that path are read from: root replacing
    /// the policy directory in between gives the new set whole.
    #[test]
    fn files_are_read_from_the_directory_listed() {
        let dir = Tmp::new("held-swap");
        dir.file("policies.d/p.yaml", "old p", 0o644);
        dir.file("new/p.yaml", "new p", 0o644);
        dir.file("new/q.yaml", "new q", 0o644);
        let policies = dir.path().join("policies.d");
        let (listed, p, q) = one_resolution(|| {
            trusted_stat(&policies).unwrap();
            assert_eq!(in_resolution(|r| r.held.len()), 1, "the stat holds it");
            std::fs::rename(&policies, dir.path().join("old")).unwrap();
            std::fs::rename(dir.path().join("new"), &policies).unwrap();
            let (_, listed) = list_trusted_dir(&policies).unwrap();
            let mut listed: Vec<_> = listed.into_iter().map(|(name, _)| name).collect();
            listed.sort();
            (
                listed,
                text(read_trusted(&policies.join("p.yaml"), 100)),
                text(read_trusted(&policies.join("q.yaml"), 100)),
            )
        });
        assert_eq!(listed, ["p.yaml", "q.yaml"]);
        assert_eq!(p.as_deref(), Ok("new p"));
        assert_eq!(q.as_deref(), Ok("new q"));
    }

    /// A file looked up relative to a held directory is judged as one
    /// reached by its path: untrusted, not regular, a link to an untrusted
    /// file, below a writable directory or missing, it is refused.
    #[test]
    fn files_in_a_held_directory_are_judged_alike() {
        if !root() {
            return;
        }
        let dir = Tmp::new("held-judge");
        dir.file("policies.d/ok.yaml", "ok", 0o644);
        dir.file("policies.d/writable.yaml", "gw", 0o664);
        dir.file("elsewhere/bad.yaml", "bad", 0o666);
        dir.file("policies.d/sub/x.yaml", "x", 0o644);
        chmod(&dir.path().join("policies.d/sub"), 0o775);
        let policies = dir.path().join("policies.d");
        nix::unistd::mkfifo(
            &policies.join("fifo.yaml"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("elsewhere/bad.yaml"),
            policies.join("l.yaml"),
        )
        .unwrap();
        let theirs = dir.file("policies.d/theirs.yaml", "theirs", 0o644);
        std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
        one_resolution(|| {
            trusted_stat(&policies).unwrap();
            assert_eq!(in_resolution(|r| r.held.len()), 1);
            assert_eq!(
                text(read_trusted(&policies.join("ok.yaml"), 100)).as_deref(),
                Ok("ok")
            );
            assert!(trusted_stat(&policies.join("ok.yaml")).is_ok());
            for name in [
                "writable.yaml",
                "fifo.yaml",
                "l.yaml",
                "theirs.yaml",
                "sub/x.yaml",
                "nope.yaml",
            ] {
                assert!(
                    text(read_trusted(&policies.join(name), 100)).is_err(),
                    "{name}"
                );
            }
            for name in [
                "writable.yaml",
                "fifo.yaml",
                "l.yaml",
                "theirs.yaml",
                "nope.yaml",
            ] {
                assert!(trusted_stat(&policies.join(name)).is_err(), "{name}");
            }
        });
    }
}
