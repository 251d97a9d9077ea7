//! Running a container's process inside its image: a mount namespace of its
//! own with an overlay of the image's root filesystem (a fresh writable
//! layer per start), the pod's volumes, `/proc` and `/dev` bound in, then
//! `chroot`, the working directory, and the image's (or the pod's) user.
//!
//! Every mount exists only in the container's namespace, so nothing is left
//! mounted on the machine when its processes end, whichever way they end.
//! The network is the host's (pods keep their loopback pod IPs), as is the
//! pid namespace; the process group of each container is what the kubelet
//! signals and kills.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// Where a container finds its kubeconfig (bound from the pod's directory).
pub const KUBECONFIG_PATH: &str = "/run/kubesim/kubeconfig";

/// How one container start is isolated.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The image's unpacked root filesystem (read-only lower layer).
    pub lower: PathBuf,
    /// The container's own directory: its writable layer and mount point.
    pub dir: PathBuf,
    /// Host path to the path inside the container.
    pub binds: Vec<(PathBuf, String)>,
    /// The working directory inside the container.
    pub working_dir: String,
    /// The user and group the process runs as.
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
}

/// One bind mount, prepared before the fork.
struct Bind {
    source: CString,
    target: CString,
    /// Directories to create first (each prefix of the target).
    dirs: Vec<CString>,
    /// The source is a file: the target is created as an empty file.
    file: bool,
}

fn c(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} has a NUL byte", path.display()))
}

/// `inside` with every symbolic link on the way resolved *within* `rootfs`
/// (an absolute link target names a path of the image, never of the
/// machine), so mounts and directories made for a container land inside
/// it: Debian's `/var/run -> /run`, or any link an image holds.
pub fn resolve_in(rootfs: &Path, inside: &str) -> Result<String, String> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: Vec<String> = inside.split('/').rev().map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let candidate = rootfs.join(done.join("/")).join(&part);
        match std::fs::read_link(&candidate) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return Err(format!("too many symbolic links in {inside:?}"));
                }
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(target.split('/').rev().map(str::to_owned));
            }
            Err(_) => done.push(part),
        }
    }
    Ok(format!("/{}", done.join("/")))
}

/// The directories leading to `inside` (relative to `root`), outermost
/// first, and the full target.
fn path_in(root: &Path, inside: &str) -> Result<(Vec<CString>, CString), String> {
    let mut dirs = Vec::new();
    let mut at = root.to_owned();
    let parts: Vec<&str> = inside
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(format!("mount path {inside:?} leaves the container"));
    }
    for part in &parts {
        at.push(part);
        dirs.push(c(&at)?);
    }
    let target = dirs.pop().unwrap_or(c(root)?);
    Ok((dirs, target))
}

impl Sandbox {
    /// Makes the container's fresh writable layer and sets `command` to
    /// enter the sandbox between fork and exec.
    pub fn prepare(&self, command: &mut std::process::Command) -> Result<(), String> {
        use std::os::unix::process::CommandExt as _;
        let (upper, work, root) = (
            self.dir.join("upper"),
            self.dir.join("work"),
            self.dir.join("root"),
        );
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .map_err(|e| format!("cannot clear {}: {e}", self.dir.display()))?;
        }
        for d in [&upper, &work, &root] {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        let options = CString::new(format!(
            "lowerdir={},upperdir={},workdir={}",
            self.lower.display(),
            upper.display(),
            work.display()
        ))
        .map_err(|_| "an overlay path has a NUL byte".to_owned())?;
        let mut binds = Vec::new();
        for (source, inside) in self
            .binds
            .iter()
            .map(|(s, i)| (s.clone(), i.clone()))
            .chain([
                ("/proc".into(), "/proc".to_owned()),
                ("/dev".into(), "/dev".to_owned()),
            ])
        {
            let (dirs, target) = path_in(&root, &resolve_in(&self.lower, &inside)?)?;
            binds.push(Bind {
                file: source.is_file(),
                source: c(&source)?,
                target,
                dirs,
            });
        }
        let working_dir = resolve_in(&self.lower, &self.working_dir)?;
        let (workdirs, workdir) = path_in(&root, &working_dir)?;
        let inside_workdir = CString::new(working_dir.as_bytes())
            .map_err(|_| "the working directory has a NUL byte".to_owned())?;
        let root = c(&root)?;
        let (overlay, slash) = (CString::from(c"overlay"), CString::from(c"/"));
        let (uid, gid) = (self.uid, self.gid);
        // SAFETY: the closure runs in the forked child before exec and only
        // makes system calls on strings allocated above (no allocation, no
        // locks), as `pre_exec` requires.
        unsafe {
            command.pre_exec(move || {
                fn check(r: libc::c_int) -> std::io::Result<()> {
                    if r == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                }
                fn mkdir(path: &CString) {
                    // An existing directory is fine; a real failure shows
                    // in the mount or chdir that follows.
                    // SAFETY: a NUL-terminated path owned by the caller.
                    unsafe {
                        libc::mkdir(path.as_ptr(), 0o755);
                    }
                }
                check(libc::unshare(libc::CLONE_NEWNS))?;
                check(libc::mount(
                    std::ptr::null(),
                    slash.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                check(libc::mount(
                    overlay.as_ptr(),
                    root.as_ptr(),
                    overlay.as_ptr(),
                    0,
                    options.as_ptr().cast(),
                ))?;
                for bind in &binds {
                    for dir in &bind.dirs {
                        mkdir(dir);
                    }
                    if bind.file {
                        let fd =
                            libc::open(bind.target.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644);
                        if fd >= 0 {
                            libc::close(fd);
                        }
                    } else {
                        mkdir(&bind.target);
                    }
                    check(libc::mount(
                        bind.source.as_ptr(),
                        bind.target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    ))?;
                }
                for dir in &workdirs {
                    mkdir(dir);
                }
                mkdir(&workdir);
                check(libc::chroot(root.as_ptr()))?;
                check(libc::chdir(inside_workdir.as_ptr()))?;
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(gid))?;
                check(libc::setuid(uid))?;
                Ok(())
            });
        }
        Ok(())
    }
}

/// The path inside the image of `program`: itself when it has a `/`, else
/// the first `PATH` entry holding it.
pub fn resolve(rootfs: &Path, program: &str, path: &str) -> Option<String> {
    let exists = |inside: &str| {
        rootfs
            .join(inside.trim_start_matches('/'))
            .symlink_metadata()
            .is_ok()
    };
    if program.contains('/') {
        return exists(program).then(|| program.to_owned());
    }
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| format!("{}/{program}", d.trim_end_matches('/')))
        .find(|p| exists(p))
}

/// The uid and gid of an image's `User` (`uid`, `uid:gid`, `name`,
/// `name:group`), names looked up in the image's `/etc/passwd` and
/// `/etc/group`; an empty user is root.
pub fn user(rootfs: &Path, spec: &str) -> Result<(u32, u32), String> {
    if spec.is_empty() {
        return Ok((0, 0));
    }
    let table = |file: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(rootfs.join("etc").join(file))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(':').map(str::to_owned).collect())
            .collect()
    };
    let (who, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = table("passwd");
    let entry = passwd.iter().find(|e| {
        e.first().map(String::as_str) == Some(who) || e.get(2).map(String::as_str) == Some(who)
    });
    let uid = match who.parse::<u32>() {
        Ok(n) => n,
        Err(_) => entry
            .and_then(|e| e.get(2)?.parse().ok())
            .ok_or_else(|| format!("user {who:?} of the image is not in its /etc/passwd"))?,
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => table("group")
                .iter()
                .find(|e| e.first().map(String::as_str) == Some(g))
                .and_then(|e| e.get(2)?.parse().ok())
                .ok_or_else(|| format!("group {g:?} of the image is not in its /etc/group"))?,
        },
        None => entry.and_then(|e| e.get(3)?.parse().ok()).unwrap_or(0),
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_like_the_runtimes_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnode:x:10001:10001::/data:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nnode:x:10001:\nstaff:x:50:\n",
        )
        .unwrap();
        assert_eq!(user(dir.path(), "").unwrap(), (0, 0));
        assert_eq!(user(dir.path(), "10001").unwrap(), (10001, 10001));
        assert_eq!(user(dir.path(), "node").unwrap(), (10001, 10001));
        assert_eq!(user(dir.path(), "node:staff").unwrap(), (10001, 50));
        assert_eq!(user(dir.path(), "4242:7").unwrap(), (4242, 7));
        assert!(user(dir.path(), "nobody")
            .unwrap_err()
            .contains("/etc/passwd"));
    }

    #[test]
    fn programs_resolve_inside_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
        std::fs::write(dir.path().join("usr/bin/tool"), "").unwrap();
        assert_eq!(
            resolve(dir.path(), "tool", "/bin:/usr/bin").as_deref(),
            Some("/usr/bin/tool")
        );
        assert_eq!(
            resolve(dir.path(), "/usr/bin/tool", "").as_deref(),
            Some("/usr/bin/tool")
        );
        assert_eq!(resolve(dir.path(), "sh", "/bin:/usr/bin"), None);
    }

    #[test]
    fn links_resolve_inside_the_image_never_on_the_machine() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::create_dir_all(root.join("var")).unwrap();
        std::os::unix::fs::symlink("/run", root.join("var/run")).unwrap();
        std::os::unix::fs::symlink("../../etc", root.join("run/up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(
            resolve_in(root, "/var/run/kubesim/kubeconfig").unwrap(),
            "/run/kubesim/kubeconfig"
        );
        assert_eq!(
            resolve_in(root, "/run/up/x").unwrap(),
            "/etc/x",
            "no climbing out of the root"
        );
        assert_eq!(resolve_in(root, "/data/db").unwrap(), "/data/db");
        assert!(resolve_in(root, "/loop/x")
            .unwrap_err()
            .contains("too many"));
    }

    #[test]
    fn mount_paths_stay_inside() {
        let (dirs, target) = path_in(Path::new("/r"), "/a/b/c").unwrap();
        assert_eq!(dirs.len(), 2);
        assert_eq!(target.to_str().unwrap(), "/r/a/b/c");
        assert!(path_in(Path::new("/r"), "/a/../../x").is_err());
    }
}
