"""The count-key vocabulary: the macro operations the energy model prices and the device counts.

`cimconv.energy` counts them per layer, the emulated coprocessor keeps one mailbox counter slot per
key (`cimcontracts.mailbox.COUNTER_NAMES`; the generator refuses a key without a slot), and the one
energy calculator (`cimconv.energy.price`) prices each key with the target's `[energy]` entry named
in `ENERGY_KEYS`. There is no second spelling: activity files, meters and reports use these keys.
"""

COUNT_KEYS = ("macs", "tile_ops", "adc_conversions", "input_bit_pulses", "digital_ops")

#: The target `[energy]` key that prices one of each counted operation (pJ each). None: no energy of
#: its own (a tile operation's cost is in its MACs, conversions and pulses).
ENERGY_KEYS: dict[str, str | None] = {
    "macs": "pj_per_mac",
    "tile_ops": None,
    "adc_conversions": "pj_per_adc_conversion",
    "input_bit_pulses": "pj_per_input_bit",
    "digital_ops": "pj_per_digital_op",
}
assert tuple(ENERGY_KEYS) == COUNT_KEYS
