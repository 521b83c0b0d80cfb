"""The lobby rules: hosts admit, the patient never stays without a clinician, dropped seats are held."""

from __future__ import annotations

import datetime as dt

import pytest

from conference.rtc.lobby import Lobby, LobbyRefusal, Place, Seat

T0 = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def _room() -> tuple[Lobby, Seat, Seat]:
    lobby = Lobby()
    host, _ = lobby.arrive("person:1", "Dana Reyes", "Therapist", is_host=True)
    patient, _ = lobby.arrive("patient:9", "Sam Lee", "Patient", is_host=False)
    return lobby, host, patient


def test_clinicians_enter_and_the_patient_waits_until_admitted() -> None:
    lobby, host, patient = _room()
    assert host.place is Place.ROOM and patient.place is Place.LOBBY
    moves = lobby.admit(host.id, patient.id)
    assert [(m.to, m.reason) for m in moves] == [(Place.ROOM, "admitted")]
    assert patient.place is Place.ROOM


def test_only_a_host_in_the_room_may_admit_decline_or_send_back() -> None:
    lobby, host, patient = _room()
    with pytest.raises(LobbyRefusal) as refused:
        lobby.admit(patient.id, patient.id)
    assert refused.value.code == "not_host"
    with pytest.raises(LobbyRefusal) as refused:
        lobby.send_to_lobby(host.id, patient.id)
    assert refused.value.code == "not_in_room"
    moves = lobby.decline(host.id, patient.id)
    assert [(m.to, m.reason) for m in moves] == [(Place.GONE, "declined")]
    assert patient.id not in lobby.seats


def test_when_the_last_clinician_leaves_the_patient_returns_to_the_lobby() -> None:
    lobby, host, patient = _room()
    second, _ = lobby.arrive("person:2", "Ari Kim", "Psychiatrist", is_host=True)
    lobby.admit(host.id, patient.id)
    assert lobby.leave(host.id)[-1].to is Place.GONE
    assert patient.place is Place.ROOM  # another clinician is still there
    moves = lobby.leave(second.id)
    assert (patient.id, Place.LOBBY, "no_host") in [(m.seat, m.to, m.reason) for m in moves]
    # A clinician coming back finds the patient still waiting and can admit them again.
    back, _ = lobby.arrive("person:1", "Dana Reyes", "Therapist", is_host=True)
    assert [s.id for s in lobby.in_place(Place.LOBBY)] == [patient.id]
    lobby.admit(back.id, patient.id)


def test_a_dropped_seat_is_held_for_the_grace_period_and_resumes_in_place() -> None:
    lobby, host, patient = _room()
    lobby.admit(host.id, patient.id)
    lobby.drop(patient.id, T0)
    assert lobby.expire(T0 + dt.timedelta(seconds=10), dt.timedelta(seconds=30)) == []
    assert lobby.resume("wrong-token", "patient:9") is None
    assert lobby.resume(patient.resume, "person:1") is None  # someone else's token
    resumed = lobby.resume(patient.resume, "patient:9")
    assert resumed is not None and resumed[0] is patient and patient.place is Place.ROOM

    lobby.drop(patient.id, T0)
    moves = lobby.expire(T0 + dt.timedelta(seconds=30), dt.timedelta(seconds=30))
    assert [(m.seat, m.reason) for m in moves] == [(patient.id, "disconnected")]


def test_joining_again_replaces_the_old_seat_and_removal_by_person_moves_everyone_out() -> None:
    lobby, host, patient = _room()
    again, moves = lobby.arrive("person:1", "Dana Reyes", "Therapist", is_host=True)
    assert (host.id, "joined_elsewhere") in [(m.seat, m.reason) for m in moves]
    lobby.admit(again.id, patient.id)
    moves = lobby.remove_person("person:1", "consent")
    assert [(m.seat, m.to, m.reason) for m in moves] == [
        (again.id, Place.GONE, "consent"),
        (patient.id, Place.LOBBY, "no_host"),
    ]
    assert lobby.remove_person("person:404", "consent") == []
