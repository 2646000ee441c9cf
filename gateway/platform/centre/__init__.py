"""The centre-station simulator: the platform side of SL/T 427-2021 (SZY206-2016) and SL 651-2014.

`wellgate platform center --protocol sl427|sl651 --port P` accepts stations over TCP, checks every
frame with the drivers' codecs, acknowledges as the standard says, stores what it got (db), can
inject faults (faults) and send commands down to a station, driven by JSON lines on stdin
(control). One module per protocol (sl427_side, sl651_side) turns frames into events and replies;
server runs the connections. Nothing in production imports this room's package: it is a test rig.
docs/centres.md, section "The centre simulator", tells how to use it.
"""
