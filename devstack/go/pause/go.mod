// The node's pause (sandbox) image program: no registry here, so the devstack builds its own.
module mp4mp3.dev/devstack/pause

go 1.24.0
