//! Docker objects that are not the environment's: another home's volume of
//! the same name, a leftover of this home, a network made by hand, and two
//! homes racing for one name. mono never uses or removes them, and never
//! makes two networks of one name (Engine 20.10 would allow it).

use mono_e2e::Sandbox;
use mono_e2e::docker::{
    Cleanup, TEST_IMAGE, docker, engine_post, labelled, mono_labels, networks_named, require_docker,
};

fn sleeper_with_volume() -> String {
    format!(
        "services:\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n    volumes:\n      - data:/data\nvolumes:\n  data:\n"
    )
}

fn sleeper() -> String {
    format!(
        "services:\n  app:\n    image: {TEST_IMAGE}\n    init: true\n    command: [\"sleep\", \"3600\"]\n"
    )
}

/// What the volume's `marker` file holds (a throwaway container reads it).
fn marker_of(volume: &str) -> String {
    let (ok, out, err) =
        docker(["run", "--rm", "-v", &format!("{volume}:/v"), TEST_IMAGE, "cat", "/v/marker"]);
    assert!(ok, "cannot read the marker of {volume}: {err}");
    out
}

#[test]
fn another_homes_volume_of_the_same_name_is_neither_mounted_nor_removed() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("shared");
    let project = format!("mono-{}-shared", sb.id);
    let volume = format!("{project}_data");
    let _cleanup = Cleanup(vec![("volume", volume.clone())]);
    // What another MONO_HOME's environment of the same name made.
    let mut create = vec!["volume".to_string(), "create".to_string()];
    create.extend(mono_labels("/elsewhere", &project));
    create.extend(["--label".to_string(), "com.docker.compose.volume=data".to_string(), volume.clone()]);
    assert!(docker(&create).0);
    let (ok, _, err) = docker([
        "run",
        "--rm",
        "-v",
        &format!("{volume}:/v"),
        TEST_IMAGE,
        "sh",
        "-c",
        "echo theirs > /v/marker",
    ]);
    assert!(ok, "{err}");

    sb.compose(&ws, &sleeper_with_volume());
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with(&format!("volume {volume}"));
    assert!(line.contains("/elsewhere"), "the owner is not named: {line}");
    assert!(line.contains(&format!("docker volume rm {volume}")), "no way out named: {line}");
    assert_eq!(sb.env_rows(), 0);
    assert!(!docker(["inspect", &format!("{project}-app-1")]).0, "a container was made to mount it");
    assert_eq!(marker_of(&volume), "theirs\n");
    sb.mono(["gc", "--yes"]).ok();
    assert_eq!(marker_of(&volume), "theirs\n", "gc removed another home's volume");

    // An environment of that name that needs no volume works beside it, and
    // its destroy leaves the other home's volume (same project label) alone.
    sb.compose(&ws, &sleeper());
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(marker_of(&volume), "theirs\n", "destroy removed another home's volume");
    assert!(docker(["volume", "rm", &volume]).0);
}

#[test]
fn a_leftover_of_this_home_fails_init_until_gc_removes_it() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("left");
    let project = format!("mono-{}-left", sb.id);
    let network = format!("{project}_default");
    let _cleanup = Cleanup(vec![("network", network.clone())]);
    let mut create = vec!["network".to_string(), "create".to_string()];
    create.extend(mono_labels(sb.home.to_str().unwrap(), &project));
    create.push(network.clone());
    assert!(docker(&create).0);

    sb.compose(&ws, &sleeper());
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with(&format!("network {network}"));
    assert!(line.contains("left over"), "{line}");
    assert!(line.contains("mono gc --yes"), "{line}");
    assert_eq!(sb.env_rows(), 0);
    assert_eq!(networks_named(&network).len(), 1);

    let gc = sb.mono(["gc", "--json"]).ok().json();
    assert_eq!(gc["orphans"][0]["name"], network.as_str(), "{gc}");
    sb.mono(["gc", "--yes"]).ok();
    sb.mono(["init", ws.to_str().unwrap()]).ok();
    assert_eq!(networks_named(&network).len(), 1);
    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(networks_named(&network), Vec::<String>::new());
}

#[test]
fn a_network_made_by_hand_is_never_duplicated_or_removed() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.docker_workspace("byhand");
    let network = format!("mono-{}-byhand_default", sb.id);
    let _cleanup = Cleanup(vec![("network", network.clone())]);
    assert!(docker(["network", "create", &network]).0);

    sb.compose(&ws, &sleeper());
    let line = sb.mono(["init", ws.to_str().unwrap()]).fails_with(&format!("network {network}"));
    assert!(line.contains(&format!("docker network rm {network}")), "{line}");
    assert_eq!(networks_named(&network).len(), 1, "a second network of the same name was made");
    assert_eq!(sb.env_rows(), 0);
    let (_, labels, _) = docker(["network", "inspect", "--format", "{{json .Labels}}", &network]);
    assert!(!labels.contains("dev.mono"), "the hand-made network was adopted: {labels}");
    assert!(docker(["network", "rm", &network]).0);
}

#[test]
fn teardown_removes_by_id_when_a_duplicate_network_was_made_by_hand() {
    let Some(_engine) = require_docker() else { return };
    let sb = Sandbox::new();
    let ws = sb.init_docker_workspace("twice", &sleeper());
    let project = format!("mono-{}-twice", sb.id);
    let network = format!("{project}_default");
    // A copy with the same name and labels, made through the API without
    // CheckDuplicate (Engine 20.10 then allows it; the CLI would refuse).
    let body = format!(
        r#"{{"Name":"{network}","Labels":{{"dev.mono.home":"{}","dev.mono.env":"{project}","com.docker.compose.project":"{project}"}}}}"#,
        sb.home.display()
    );
    let (status, reply) = engine_post("/networks/create", &body);
    assert_eq!(status, 201, "{reply}");
    assert_eq!(networks_named(&network).len(), 2);

    sb.mono(["destroy", ws.to_str().unwrap()]).ok();
    assert_eq!(networks_named(&network), Vec::<String>::new());
    assert_eq!(labelled(&format!("com.docker.compose.project={project}")), Vec::<String>::new());
    assert_eq!(sb.env_rows(), 0);
}

#[test]
fn two_homes_racing_for_one_name_never_share_or_duplicate_objects() {
    let Some(_engine) = require_docker() else { return };
    let first = Sandbox::new();
    let second = Sandbox::new();
    // Both homes name their environment `<first.id>-race`.
    let name = format!("{}-race", first.id);
    let project = format!("mono-{name}");
    let network = format!("{project}_default");
    let volume = format!("{project}_data");
    let mut workspaces = Vec::new();
    for sb in [&first, &second] {
        sb.docker_workspace("unused");
        let ws = sb.workspace(&format!("{}/race", first.id));
        sb.compose(&ws, &sleeper_with_volume());
        sb.mono(["daemon", "start"]).ok();
        workspaces.push(ws);
    }
    for round in 0..3 {
        let outcomes: Vec<mono_e2e::Run> = std::thread::scope(|scope| {
            let runs: Vec<_> = [&first, &second]
                .into_iter()
                .zip(&workspaces)
                .map(|(sb, ws)| scope.spawn(move || sb.mono(["init", ws.to_str().unwrap()])))
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(networks_named(&network).len() <= 1, "round {round}: two networks named {network}");
        let winners: Vec<usize> = (0..2).filter(|i| outcomes[*i].code == 0).collect();
        assert!(winners.len() <= 1, "round {round}: both homes got {project}");
        for (i, out) in outcomes.iter().enumerate() {
            if out.code != 0 {
                assert!(
                    out.stderr.contains("already exists and is not this environment's"),
                    "round {round}: home {i} failed otherwise: {}\nfirst:\n{}\nsecond:\n{}",
                    out.stderr,
                    first.mono_log(),
                    second.mono_log()
                );
            }
        }
        let homes = [&first.home, &second.home];
        for (i, home) in homes.iter().enumerate() {
            let mine = labelled(&format!("dev.mono.home={}", home.display()));
            if winners.contains(&i) {
                // The winner's environment is whole: nothing of it was
                // removed by the loser's rollback.
                for object in [format!("{project}-app-1"), network.clone(), volume.clone()] {
                    assert!(mine.contains(&object), "round {round}: {object} of home {i} is gone: {mine:?}");
                }
            } else {
                assert_eq!(mine, Vec::<String>::new(), "round {round}: the loser left objects");
            }
        }
        for i in winners {
            let sb = [&first, &second][i];
            sb.mono(["destroy", workspaces[i].to_str().unwrap()]).ok();
        }
        assert_eq!(labelled(&format!("com.docker.compose.project={project}")), Vec::<String>::new());
    }
}
