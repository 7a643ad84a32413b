"""The count-key vocabulary: the macro operations the energy model prices and the device counts.

`cimconv.energy` counts them per layer, the emulated coprocessor keeps one mailbox counter slot per
key (`cimcontracts.mailbox.COUNTER_NAMES`; the generator refuses a key without a slot).
"""

COUNT_KEYS = ("macs", "tile_ops", "adc_conversions", "input_bit_pulses", "digital_ops")
