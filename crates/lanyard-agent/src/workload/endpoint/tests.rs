use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn missing_directories_are_created_not_writable_by_others() {
    let temp = tempfile::tempdir().unwrap();
    let socket = temp.path().join("a/public/api.sock");

    prepare_socket_dir(&socket).unwrap();

    assert_eq!(mode(&temp.path().join("a")), 0o755);
    assert_eq!(mode(&temp.path().join("a/public")), 0o755);
}

#[test]
fn an_own_socket_directory_writable_by_others_is_repaired() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("public");
    std::fs::create_dir(&dir).unwrap();
    set_mode(&dir, 0o777);

    prepare_socket_dir(&dir.join("api.sock")).unwrap();

    assert_eq!(mode(&dir), 0o755);
}

#[test]
fn a_parent_writable_by_others_is_refused_with_its_name() {
    let temp = tempfile::tempdir().unwrap();
    let parent = temp.path().join("shared");
    std::fs::create_dir_all(parent.join("public")).unwrap();
    set_mode(&parent, 0o777);

    let err = prepare_socket_dir(&parent.join("public/api.sock")).unwrap_err();

    let message = err.to_string();
    assert!(
        matches!(err, EndpointError::UnsafeDirectory { .. }),
        "{message}"
    );
    assert!(message.contains(&parent.display().to_string()), "{message}");
    assert!(message.contains("writable by group or others"), "{message}");
}

#[test]
fn a_sticky_parent_like_tmp_is_accepted() {
    let temp = tempfile::tempdir().unwrap();
    let parent = temp.path().join("tmp");
    std::fs::create_dir(&parent).unwrap();
    set_mode(&parent, 0o1777);

    prepare_socket_dir(&parent.join("agent/public/api.sock")).unwrap();
}

#[test]
fn directories_of_other_users_or_open_to_writes_are_unsafe() {
    assert_eq!(check_directory(0, 0o40755, 1000), None);
    assert_eq!(check_directory(1000, 0o40755, 1000), None);
    assert_eq!(check_directory(0, 0o41777, 1000), None);
    assert_eq!(
        check_directory(2000, 0o40755, 1000),
        Some(Unsafe::ForeignOwner)
    );
    assert_eq!(
        check_directory(0, 0o40775, 0),
        Some(Unsafe::WritableByOthers)
    );
    assert_eq!(
        check_directory(0, 0o40757, 0),
        Some(Unsafe::WritableByOthers)
    );
}

#[tokio::test]
async fn the_socket_is_connectable_by_everyone() {
    let temp = tempfile::tempdir().unwrap();
    let socket = temp.path().join("public/api.sock");

    let _listener = bind_public_socket(&socket).unwrap();

    assert_eq!(mode(&socket), 0o777);
}
