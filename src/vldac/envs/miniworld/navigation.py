"""Walking distances on one MiniWorld episode's floor plan, for the scripted expert.

A ``FloorMap`` lays a grid over the floor, keeps the cells where the agent fits (inside a room and
clear of walls and obstacles by its radius plus a margin), and computes every cell's walking
distance to the goal (Dijkstra over 8-connected cells) the first time it is asked for a waypoint.
Points are ``(x, z)`` floor coordinates; numpy only.
"""

from __future__ import annotations

import heapq
import math
from functools import cached_property

import numpy as np

AGENT_RADIUS = 0.4
MARGIN = 0.1  # extra distance kept from walls, for the heading error of a 15-degree turn step
RESOLUTION = 0.125  # grid cell size
LOOKAHEAD = 0.6  # how far along the path the waypoint lies
_NEIGHBOURS = [(-1, 0, 1.0), (1, 0, 1.0), (0, -1, 1.0), (0, 1, 1.0)] + [
    (dx, dz, math.sqrt(2)) for dx in (-1, 1) for dz in (-1, 1)
]


def segment_distances(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distance from each point [N, 2] to the nearest of the segments starts[M, 2] -> ends[M, 2]: [N]."""
    direction = ends - starts
    length2 = np.maximum((direction**2).sum(axis=1), 1e-12)
    nearest = np.full(len(points), np.inf)
    for chunk in range(0, len(points), 4096):
        p = points[chunk:chunk + 4096, None, :]
        t = np.clip(((p - starts) * direction).sum(axis=2) / length2, 0.0, 1.0)
        closest = starts + t[..., None] * direction
        nearest[chunk:chunk + 4096] = np.sqrt(((p - closest) ** 2).sum(axis=2)).min(axis=1)
    return nearest


def _crosses(a: np.ndarray, b: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bool:
    """Whether the segment a -> b crosses any of the segments starts -> ends."""

    def side(p, q, r):
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    return bool(np.any((side(a, b, starts) != side(a, b, ends)) & (side(starts, ends, a) != side(starts, ends, b))))


class FloorMap:
    """One episode's walkable grid and walking distances to the goal.

    walls: [W, 2, 2] wall segments (two (x, z) ends each); rooms: (outline [K, 2], inward edge
    normals [K, 2]) per room; obstacles: (x, z, radius) of entities to walk around; the goal is
    reached within ``reach`` of ``goal``.
    """

    def __init__(self, walls: np.ndarray, rooms: list[tuple[np.ndarray, np.ndarray]],
                 obstacles: list[tuple[float, float, float]], goal: np.ndarray, reach: float):
        self.walls, self.rooms, self.obstacles = walls, rooms, obstacles
        self.goal, self.reach = np.asarray(goal, float), reach
        corners = np.concatenate([outline for outline, _ in rooms])
        self.origin = corners.min(axis=0)
        self.shape = tuple(int(n) for n in np.ceil((corners.max(axis=0) - self.origin) / RESOLUTION) + 1)
        self._centres = self.centre(np.indices(self.shape).transpose(1, 2, 0))

    def __eq__(self, other: object) -> bool:
        """Maps of the same layout and goal are equal (so a seed's infos compare equal, as
        gymnasium's determinism check asks)."""
        if not isinstance(other, FloorMap):
            return NotImplemented
        return (np.array_equal(self.walls, other.walls) and self.obstacles == other.obstacles
                and np.array_equal(self.goal, other.goal) and self.reach == other.reach
                and len(self.rooms) == len(other.rooms)
                and all(np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(self.rooms, other.rooms)))

    __hash__ = None

    @cached_property
    def free(self) -> np.ndarray:
        """[shape] bool: the cells where the agent fits (built on first use: a world only pays for
        it when the expert plays)."""
        centres = self._centres.reshape(-1, 2)
        inside = np.zeros(len(centres), bool)
        for outline, normals in self.rooms:
            inside |= ((centres[:, None, :] - outline[None]) * normals[None]).sum(axis=2).min(axis=1) > -1e-6  # on a shared wall line: a doorway
        clear = segment_distances(centres, self.walls[:, 0], self.walls[:, 1]) > AGENT_RADIUS + MARGIN
        for x, z, radius in self.obstacles:
            clear &= np.linalg.norm(centres - (x, z), axis=1) > radius + AGENT_RADIUS + MARGIN
        return (inside & clear).reshape(self.shape)

    def centre(self, cells: np.ndarray) -> np.ndarray:
        """Floor coordinates of grid cells [N, 2] (integer indices)."""
        return self.origin + np.asarray(cells) * RESOLUTION

    def visible(self, a, b) -> bool:
        """Whether no wall stands between the points a and b."""
        return not _crosses(np.asarray(a, float), np.asarray(b, float), self.walls[:, 0], self.walls[:, 1])

    @cached_property
    def distances(self) -> np.ndarray:
        """[shape] walking distance (metres) of every cell to the goal region; inf where it cannot be reached."""
        at_goal = self.free & (np.linalg.norm(self._centres - self.goal, axis=2) < self.reach)
        free = self.free.tolist()  # plain lists: the search below is pure Python
        distance = np.where(at_goal, 0.0, np.inf).tolist()
        rows, columns = self.shape
        queue = [(0.0, int(i), int(j)) for i, j in zip(*np.nonzero(at_goal))]
        while queue:
            d, i, j = heapq.heappop(queue)
            if d > distance[i][j]:
                continue
            for di, dj, step in _NEIGHBOURS:
                ni, nj = i + di, j + dj
                if 0 <= ni < rows and 0 <= nj < columns and free[ni][nj]:
                    candidate = d + step * RESOLUTION
                    if candidate < distance[ni][nj]:
                        distance[ni][nj] = candidate
                        heapq.heappush(queue, (candidate, ni, nj))
        return np.array(distance)

    def walkable(self, a, b) -> bool:
        """Whether the agent can walk straight from a to b without touching a wall or obstacle."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        samples = a + np.linspace(0.0, 1.0, max(2, int(np.linalg.norm(b - a) / 0.05) + 1))[:, None] * (b - a)
        clear = segment_distances(samples, self.walls[:, 0], self.walls[:, 1]) > AGENT_RADIUS + 0.02
        for x, z, radius in self.obstacles:
            clear &= np.linalg.norm(samples - (x, z), axis=1) > radius + AGENT_RADIUS + 0.02
        return bool(clear.all())

    def waypoint(self, position) -> list[float]:
        """Where to head next: the farthest point, up to ``LOOKAHEAD`` along the shortest walk to
        the goal, that the agent can walk to in a straight line (the goal itself once the walk
        ends within it)."""
        distance = self.distances
        reachable = np.isfinite(distance)
        if not reachable.any():
            return self.goal.tolist()
        gaps = np.where(reachable, np.linalg.norm(self._centres - np.asarray(position, float), axis=2), np.inf)
        i, j = np.unravel_index(np.argmin(gaps), self.shape)
        target = self.centre([i, j])
        for _ in range(int(LOOKAHEAD / RESOLUTION)):
            if distance[i, j] == 0.0:
                return self.goal.tolist()
            options = [(distance[i + di, j + dj], i + di, j + dj) for di, dj, _ in _NEIGHBOURS
                       if 0 <= i + di < self.shape[0] and 0 <= j + dj < self.shape[1]]
            _, i, j = min(options)
            if not self.walkable(position, self.centre([i, j])):
                break
            target = self.centre([i, j])
        return target.tolist()
