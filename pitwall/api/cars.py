"""``GET /cars``: every car YAML of the cars folder, the configured one flagged ``loaded: true``."""

from __future__ import annotations

from litestar import Router, get
from litestar.datastructures import State

from pitwall.api.deps import live_of, settings_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import CarsList
from pitwall.formats.car import CarConfig


@get("/cars", operation_id="list_cars", sync_to_thread=False)
def cars_list(state: State) -> CarsList:
    """Every car of ``cars_dir`` (identity, dash logger, CAN bus, flattened channel inventory). The car the
    simulator or the CAN reader runs (else the car of ``--can-car-config``; same file) is ``loaded: true`` and
    its id is ``loaded_id`` (null when none). 404 when the cars folder is missing."""
    settings = settings_of(state)
    cars: list[CarConfig] | None = state.get("cars")
    if cars is None or not settings.cars_dir.is_dir():
        raise ApiError(404, "no cars folder", str(settings.cars_dir))
    live = live_of(state)
    car_path = live.car.path if live is not None else settings.can_car_config
    configured = car_path.resolve() if car_path is not None else None
    loaded_id = next((car.id for car in cars if car.path.resolve() == configured), None)
    return CarsList(
        cars=[car.to_api_dict(loaded=car.id == loaded_id) for car in cars],
        loaded_id=loaded_id,
        cars_dir=str(settings.cars_dir),
    )


router = Router("/", route_handlers=[cars_list], tags=["cars"])
