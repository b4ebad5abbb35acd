"""The devstack: mp4mp3's whole system on one machine, from packages, on loopback."""
