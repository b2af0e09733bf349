"""Physics invariants of Kino World, checked on the real simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kino.world import physics
from kino.world.palette import MATERIALS, Material
from kino.world.physics import body_mass, simulate
from kino.world.sample import SCENARIOS, sample_scene
from kino.world.scene import Action, Body, Character, Scene


def ball(i, x, y, v=(0.0, 0.0, 0.0), r=0.3, material="rubber", z=0.0):
    return Body(i, "ball", ["red", "blue", "green", "yellow"][i % 4], (x, y, z), (r, r, r), v, material=material)


def test_free_flight_is_a_parabola_with_the_scenes_gravity():
    for g in (9.81, 3.7):
        scene = Scene(bodies=(ball(1, -2.0, 3.0, (1.5, 4.0, 0.0)),), gravity=g, fps=16, seconds=1.0)
        m = simulate(scene)
        t = m.times
        y = m.positions[:, 0, 1]
        airborne = y - 0.3 > 1e-6
        airborne &= np.cumsum(~airborne) == 0  # before the first contact
        assert airborne.sum() >= 8
        a2, a1, a0 = np.polyfit(t[airborne], y[airborne], 2)
        assert a2 == pytest.approx(-g / 2, rel=1e-6)
        assert a1 == pytest.approx(4.0, rel=1e-6)
        # horizontal motion is uniform in flight
        bx = np.polyfit(t[airborne], m.positions[airborne, 0, 0], 1)
        assert bx[0] == pytest.approx(1.5, rel=1e-9)


def _kinetic(m, masses, f):
    return 0.5 * sum(mass * float(np.dot(m.velocities[f, i], m.velocities[f, i])) for i, mass in masses.items())


def test_momentum_is_conserved_and_newtons_restitution_law_holds():
    a = ball(1, -1.0, 1.5, (2.0, 0.0, 0.0), r=0.3, material="rubber")
    b = ball(2, 0.5, 1.5, (-0.5, 0.0, 0.0), r=0.2, material="wood")
    scene = Scene(bodies=(a, b), gravity=0.0, fps=16, seconds=1.5)
    m = simulate(scene)
    hits = [e for e in m.events if e.type == "collision"]
    assert len(hits) == 1
    ma, mb = body_mass(a), body_mass(b)
    p = ma * m.velocities[:, 0] + mb * m.velocities[:, 1]
    np.testing.assert_allclose(p, np.broadcast_to(p[0], p.shape), atol=1e-9 * abs(p[0, 0]))
    f = hits[0].frame
    before, after = m.velocities[f - 1], m.velocities[f]
    e = min(MATERIALS["rubber"].restitution, MATERIALS["wood"].restitution)
    assert (after[1, 0] - after[0, 0]) == pytest.approx(-e * (before[1, 0] - before[0, 0]), rel=1e-9)
    # the struck ball keeps its own velocity until the event frame: no effect before the cause
    assert np.allclose(m.velocities[:f, 1], b.velocity)


def test_elastic_collision_conserves_kinetic_energy(monkeypatch):
    monkeypatch.setitem(MATERIALS, "rubber", Material(restitution=1.0, friction=0.9, rolling=0.04, density=1.1))
    a = ball(1, -1.5, 1.5, (3.0, 0.0, 0.0), r=0.3)
    b = ball(2, 0.5, 1.52, (-1.0, 0.0, 0.1), r=0.25)
    scene = Scene(bodies=(a, b), gravity=0.0, fps=16, seconds=1.5)
    m = simulate(scene)
    assert [e.type for e in m.events].count("collision") == 1
    masses = {0: body_mass(a), 1: body_mass(b)}
    ke = [_kinetic(m, masses, f) for f in range(len(m.times))]
    np.testing.assert_allclose(ke, ke[0], rtol=1e-9)
    p = masses[0] * m.velocities[:, 0] + masses[1] * m.velocities[:, 1]
    np.testing.assert_allclose(p, np.broadcast_to(p[0], p.shape), atol=1e-9)


def _energy(scene, m):
    e = np.zeros(len(m.times))
    for i, b in enumerate(scene.bodies):
        if b.static:
            continue
        mass = body_mass(b)
        v = m.velocities[:, i]
        e += 0.5 * mass * (v * v).sum(-1) + mass * scene.gravity * m.positions[:, i, 1]
        if b.kind == "box":  # rotation about the centre while toppling
            hx, hy = b.size[0], b.size[1]
            e += 0.5 * mass * ((2 * hx) ** 2 + (2 * hy) ** 2) / 12 * m.spins[:, i] ** 2
    return e


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "walk"])
def test_energy_never_increases_without_a_cause(scenario):
    for seed in range(6):
        scene = sample_scene(seed, scenario=scenario, fps=16, seconds=4.0)
        if scene.characters:  # a kicking character is an external cause
            continue
        m = simulate(scene)
        e = _energy(scene, m)
        scale = max(abs(e[0]), 1.0)
        rise = np.diff(e) / scale
        assert rise.max() < 2e-3, f"{scenario} seed {seed}: energy rose by {rise.max():.2e} at frame {rise.argmax()}"


def test_bounce_heights_fall_by_restitution_squared():
    scene = Scene(bodies=(ball(1, 0.0, 2.3, material="rubber"),), fps=64, seconds=3.0)
    m = simulate(scene)
    y = m.positions[:, 0, 1] - 0.3
    peaks = [y[i] for i in range(1, len(y) - 1) if y[i] >= y[i - 1] and y[i] > y[i + 1] and y[i] > 0.05]
    assert len(peaks) >= 2
    e = MATERIALS["rubber"].restitution
    assert peaks[0] / 2.0 == pytest.approx(e * e, rel=0.05)
    assert peaks[1] / peaks[0] == pytest.approx(e * e, rel=0.08)
    assert [ev.type for ev in m.events].count("bounce") >= 3


def test_rolling_resistance_and_materials():
    def travel(material, kind="ball"):
        size = (0.3, 0.3, 0.3)
        b = Body(1, kind, "red", (-3.0, 0.3, 0.0), size, (2.0, 0.0, 0.0), material=material)
        m = simulate(Scene(bodies=(b,), fps=16, seconds=4.0))
        return m.positions[-1, 0, 0] + 3.0, m

    d_rubber, m = travel("rubber")
    decel = MATERIALS["rubber"].rolling * 9.81
    assert d_rubber == pytest.approx(min(4.0 * 2.0 - 0.5 * decel * 16, 2.0**2 / (2 * decel)), rel=0.02)
    # rolling without slipping: angle turns clockwise (negative) as the ball rolls right
    assert m.angles[-1, 0] < -1.0
    assert travel("ice", "box")[0] > 3 * travel("rubber", "box")[0]


def test_tall_box_struck_high_topples_short_box_slides():
    def run(hx, hy):
        striker = Body(1, "ball", "red", (-2.0, 0.38, 0.0), (0.38, 0.38, 0.38), (4.0, 0.0, 0.0), material="metal")
        box = Body(2, "box", "blue", (0.0, hy, 0.0), (hx, hy, 0.15), material="wood")
        return simulate(Scene(bodies=(striker, box), fps=32, seconds=2.5))

    m = run(0.1, 0.27)
    types = [e.type for e in m.events]
    assert "topple" in types and "fall" in types
    assert types.index("topple") < types.index("fall")
    assert abs(m.angles[-1, 1]) == pytest.approx(math.pi / 2, abs=1e-6)
    assert m.positions[-1, 1, 1] == pytest.approx(0.1, abs=1e-3)  # lies on its side
    cube = run(0.3, 0.3)
    assert "topple" not in [e.type for e in cube.events]
    assert cube.positions[-1, 1, 0] > 0.2  # pushed along instead
    assert cube.angles[-1, 1] == 0.0


def test_ball_falls_off_a_ledge_and_rolls_down_a_ramp():
    plat = Body(1, "platform", "brown", (-1.0, 0.4, 0.0), (1.0, 0.4, 0.5))
    b = Body(2, "ball", "red", (-1.5, 0.8 + 0.2, 0.0), (0.2, 0.2, 0.2), (1.5, 0.0, 0.0))
    m = simulate(Scene(bodies=(plat, b), fps=16, seconds=3.0))
    y = m.positions[:, 1, 1]
    assert y[0] == pytest.approx(1.0, abs=1e-3) and y[-1] == pytest.approx(0.2, abs=1e-3)
    assert "bounce" in [e.type for e in m.events if e.frame > 0]
    ramp = Body(1, "ramp", "blue", (0.0, 0.5, 0.0), (1.0, 0.5, 0.5), facing=-1)  # rises toward -x
    r = 0.2
    slope = math.atan2(1.0, 2.0)
    x0 = -0.6
    y0 = (1.0 - x0) / 2.0 * 1.0 + r / math.cos(slope) + 0.005
    rb = Body(2, "ball", "red", (x0, y0, 0.0), (r, r, r), material="wood")
    m = simulate(Scene(bodies=(ramp, rb), fps=32, seconds=2.0))
    x = m.positions[:, 1, 0]
    assert x[-1] > 1.0  # rolled down and off toward +x
    v = m.velocities[:, 1, 0]
    early = v[2:12]
    acc = np.diff(early).mean() * 32
    assert acc == pytest.approx(9.81 * math.sin(slope) * math.cos(slope), rel=0.1)


def test_characters_walk_jump_and_kick():
    ch = Character(5, (-2.0, 0.0, 0.0), height=1.5, facing=1, actions=(Action("walk", 0.0, 3.0, 1.2), Action("jump", 0.5, 1.0, speed=0.0, height=0.5)))
    target = Body(1, "ball", "red", (0.5, 0.2, 0.0), (0.2, 0.2, 0.2))
    m = simulate(Scene(bodies=(target,), characters=(ch,), fps=32, seconds=3.0))
    x = m.char_positions[:, 0, 0]
    assert x[32] == pytest.approx(-2.0 + 1.2, abs=1e-6)
    assert m.char_positions[:, 0, 1].max() == pytest.approx(0.5, abs=0.01)
    kicks = [e for e in m.events if e.type == "kick"]
    assert kicks and kicks[0].objects == (5, 1)
    f = kicks[0].frame
    assert np.allclose(m.velocities[:f, 0], 0.0) and m.velocities[f, 0, 0] > 1.0


def test_simulation_is_deterministic():
    scene = sample_scene(11, scenario="collide")
    a, b = simulate(scene), simulate(scene)
    assert np.array_equal(a.positions, b.positions) and a.events == b.events and a.particles == b.particles


def test_dust_is_born_at_its_cause():
    scene = Scene(bodies=(ball(1, 0.0, 3.0),), fps=16, seconds=2.0)
    m = simulate(scene)
    assert m.particles
    for p in m.particles:
        cause = m.events[p.cause]
        assert p.t0 == cause.time and cause.type in ("bounce", "fall", "land", "hit")
        assert p.at(cause.time - 1e-6) is None


def test_substeps_keep_fast_balls_from_tunnelling():
    assert physics.SUBSTEP_HZ >= 128
    wall = Body(1, "wall", "brown", (0.0, 1.0, 0.0), (0.05, 1.0, 1.0))
    fast = Body(2, "ball", "red", (-2.0, 0.3, 0.0), (0.15, 0.15, 0.15), (12.0, 0.0, 0.0), material="metal")
    m = simulate(Scene(bodies=(wall, fast), fps=8, seconds=1.0))
    assert m.positions[:, 1, 0].max() < 0.0


def test_a_turn_reverses_the_walking_direction():
    ch = Character(5, (0.0, 0.0, 0.0), facing=1, actions=(Action("walk", 0.0, 3.0, 1.0), Action("turn", 1.0, 0.4)))
    m = simulate(Scene(characters=(ch,), fps=10, seconds=3.0))
    x = m.char_positions[:, 0, 0]
    assert x[12] == pytest.approx(1.2, abs=1e-9)  # the turn's midpoint
    assert x[-1] == pytest.approx(1.2 - 1.7, abs=1e-9)  # walked back after turning
    assert m.char_facing[-1, 0] == -1.0 and m.char_velocities[-1, 0, 0] == -1.0
